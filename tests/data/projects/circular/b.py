from a import train


def helper(model, x, y, optimizer):
    optimizer.zero_grad()
    (model(x) - y).pow(2).mean().backward()
    optimizer.step()


def again(model, loader, optimizer):
    return train(model, loader, optimizer)
