"""A PyTorch MNIST training script, as PyTorch's own MNIST example is written, run on chainrule.

Run: python examples/mnist_pytorch_style.py                    (14 epochs, as that example)
     python examples/mnist_pytorch_style.py --epochs 1 --limit-batches 50   (a quick look)

Everything below the import lines is PyTorch code: a ``Net`` subclass of ``nn.Module``
(two convolutions, max pooling, dropout, two linear layers, ``F.relu`` and
``F.log_softmax``), ``F.nll_loss``, the Adadelta optimiser with a ``StepLR`` schedule,
``model.train()`` / ``model.eval()``, ``torch.no_grad()``, torchvision's ``datasets.MNIST``
with a ``transforms.Compose`` of ``ToTensor`` and ``Normalize``, ``torch.utils.data``'s
``DataLoader``, and ``torch.save(model.state_dict(), ...)``. To run it on PyTorch, change the
six import lines to

    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim
    from torchvision import datasets, transforms
    from torch.optim.lr_scheduler import StepLR

(the MNIST files ship with chainrule, so ``download=True`` has nothing to fetch).
``--limit-batches`` is this script's own addition: it caps the batches of each training
epoch and each test pass, for quick runs and the test that runs this script.
"""
import argparse

import chainrule as torch
import chainrule.nn as nn
import chainrule.nn.functional as F
import chainrule.optim as optim
from chainrule.data import datasets, transforms
from chainrule.optim.lr_scheduler import StepLR


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))             # 28x28 -> 26x26
        x = F.relu(self.conv2(x))             # -> 24x24
        x = F.max_pool2d(x, 2)                # -> 12x12, 64 channels: 9216 values
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def train(args, model, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        if args.limit_batches and batch_idx >= args.limit_batches:
            break
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)} "
                  f"({100.0 * batch_idx / len(train_loader):.0f}%)]\tLoss: {loss.item():.6f}")
            if args.dry_run:
                break
    return loss.item()


def test(args, model, test_loader):
    model.eval()
    test_loss, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for batch_idx, (data, target) in enumerate(test_loader):
            if args.limit_batches and batch_idx >= args.limit_batches:
                break
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)       # the most likely digit
            correct += pred.eq(target.view_as(pred)).sum().item()
            seen += len(data)
    test_loss /= seen
    print(f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{seen} "
          f"({100.0 * correct / seen:.0f}%)\n")
    return test_loss, correct / seen


def main(argv=None):
    parser = argparse.ArgumentParser(description="MNIST, PyTorch style")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N")
    parser.add_argument("--test-batch-size", type=int, default=1000, metavar="N")
    parser.add_argument("--epochs", type=int, default=14, metavar="N")
    parser.add_argument("--lr", type=float, default=1.0, metavar="LR")
    parser.add_argument("--gamma", type=float, default=0.7, metavar="M",
                        help="learning-rate step gamma")
    parser.add_argument("--dry-run", action="store_true", help="one batch per epoch")
    parser.add_argument("--seed", type=int, default=1, metavar="S")
    parser.add_argument("--log-interval", type=int, default=10, metavar="N")
    parser.add_argument("--save-model", action="store_true")
    parser.add_argument("--limit-batches", type=int, default=0, metavar="N",
                        help="at most N batches per training epoch and per test pass (0: all)")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    transform = transforms.Compose([
        transforms.ToTensor(),
        transforms.Normalize((0.1307,), (0.3081,)),
    ])
    dataset1 = datasets.MNIST("../data", train=True, download=True, transform=transform)
    dataset2 = datasets.MNIST("../data", train=False, transform=transform)
    train_loader = torch.utils.data.DataLoader(dataset1, batch_size=args.batch_size, shuffle=True)
    test_loader = torch.utils.data.DataLoader(dataset2, batch_size=args.test_batch_size)

    model = Net()
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    results = []
    for epoch in range(1, args.epochs + 1):
        train_loss = train(args, model, train_loader, optimizer, epoch)
        results.append((train_loss,) + test(args, model, test_loader))
        scheduler.step()

    if args.save_model:
        torch.save(model.state_dict(), "mnist_cnn.pt")
    return {"model": model, "results": results}


if __name__ == "__main__":
    main()
