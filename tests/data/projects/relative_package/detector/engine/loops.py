def run_epoch(model, data_loader, optimizer, device):
    model.train()
    for images, targets in data_loader:
        losses = model(images.to(device), targets.to(device))
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
