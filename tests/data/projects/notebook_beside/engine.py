def train_one_epoch(model, loader, optimizer, loss_fn):
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimizer.step()
