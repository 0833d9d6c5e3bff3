def train_step(model, batch, optimizer):
    optimizer.zero_grad(
    model(batch).mean().backward()
    optimizer.step()
