"""Small models written the way tutorials and papers write them, for the import tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn


class TutorialMLP(nn.Module):
    """The PyTorch tutorial's MNIST MLP: flatten, then Linear + ReLU twice, then Linear."""

    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


class TutorialCNN(nn.Module):
    """The CIFAR-10 tutorial's Net: conv, pool, conv, pool, three Linears, F.relu between."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class StackedLinears(nn.Module):
    """A Net of Linears with nothing between them: one linear map in disguise (the lint's case)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.fc2 = nn.Linear(64, 32)
        self.fc3 = nn.Linear(32, 3)

    def forward(self, x):
        x = self.fc1(x)
        x = self.fc2(x)
        return self.fc3(x)


class Tokens(nn.Module):
    """ViT's way with a class token and a position embedding (parameters read with get_attr)."""

    def __init__(self, dim=8):
        super().__init__()
        self.class_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 5, dim))
        self.register_buffer("scale", torch.tensor(0.5))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n = x.shape[0]
        tokens = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1) + self.pos
        tokens = tokens.masked_fill(tokens > 3.0, float("-inf")).clamp(min=-10.0)
        y = self.proj(tokens[:, 0]) * self.scale
        return y + tokens[..., 1:, :].sum(dim=(1,), dtype=torch.float32)[:, :].mean(-1, keepdim=True)


class SharedBlock(nn.Module):
    """One module called twice (weight sharing), and an in-place activation."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(6, 6)
        self.act = nn.ReLU()
        self.unused = nn.Linear(3, 3)

    def forward(self, x):
        y = self.act(self.shared(x))
        y = self.shared(y)
        y.relu_()
        return y + x


class Inner(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        return F.dropout(self.fc(x), self.p, training=self.training)


class ModeDependent(nn.Module):
    """Dropout passed self.training, BatchNorm, and torchvision's StochasticDepth (kept whole)."""

    def __init__(self):
        super().__init__()
        self.inner = Inner(0.5)
        self.bn = nn.BatchNorm1d(6)
        self.depth = torchvision.ops.StochasticDepth(0.5, "row")

    def forward(self, x):
        return self.depth(self.bn(self.inner(x))) + x


class DataDependent(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # a branch on the tensor's values
            return x
        return -x


class HasDataDependentPart(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.gate = DataDependent()

    def forward(self, x):
        return self.gate(self.fc(x))


class BranchesOnTraining(nn.Module):
    def forward(self, x):
        if self.training:
            return x * 2
        return x


class HasModeBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.part = BranchesOnTraining()

    def forward(self, x):
        return self.part(self.fc(x))


class RootModeBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.aux = nn.Linear(4, 2)

    def forward(self, x):
        y = self.fc(x)
        if self.training:
            return y, self.aux(y)
        return y


class Upsampler(nn.Module):
    """torch.nn classes without a card (generic Module layers), and one built from another module."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.encoder = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True, dropout=0.0)
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        y = self.up(self.shuffle(self.conv(x)))  # [N, 2, 16, 16]
        tokens = y.flatten(2).transpose(1, 2).repeat(1, 1, 4)  # [N, 256, 8]
        attended, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return self.encoder(attended)
