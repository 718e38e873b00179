"""The one layered (Sugiyama-style) layout engine: plain coordinates for any directed graph, no drawing.

Used by the editor's auto-layout (:mod:`nnstudio.core.layout`, cards of a network) and by the
autograd view (:mod:`nnstudio.autograd.layout`, operations and parameter leaves), each with its own
:class:`LayoutOptions`. ``layered_layout(nodes, edges, size_of, options)`` returns a :class:`Layout`
with a box per node (its centre) and a polyline per edge, drawn top to bottom, in four classic steps:

1. *cycles*: a depth-first search reverses back edges (a network has none; collapsed autograd
   graphs may, when a module is reused);
2. *ranks*: ``"longest_path"`` puts each node one rank below its lowest input (the editor: every
   layer of one depth in one row); ``"compact"`` then lets nodes with more outgoing than incoming
   edges (parameters, above all) sink to just above their first consumer, so edges stay short.
   Edges longer than one rank get a chain of dummy nodes;
3. *order*: a depth-first initial order (from the top, then again from the bottom), weighted-median
   sweeps down and up with adjacent transpositions (sideways swaps on alternate sweeps to leave
   plateaus), keeping the order with the fewest crossings seen; a leaf is ordered right after the
   node it joins below, so it never drags the main path sideways;
4. *coordinates*: each rank is placed by weighted isotonic regression (pool adjacent violators):
   the x that best matches the median of each node's neighbours while keeping boxes apart, in
   alternating sweeps. Dummy nodes weigh most, so long edges come out straight.

Sizes come per node, so a nested block laid out on its own can stand in its parent as one box of its
drawing's size. Pure Python, no torch, no Qt, deterministic: the same nodes and edges in the same
order give the same layout. Cost grows about linearly with nodes + dummies per sweep: a 500-node
network lays out in tens of milliseconds (``benchmarks/bench_autograd.py``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

SizeOf = Callable[[Hashable], tuple[float, float]]


@dataclass(frozen=True)
class LayoutOptions:
    """Spacing (in pixels), ranking and effort of the layered layout."""

    #: "compact": leaves sink to just above their consumer (autograd); "longest_path": rows by depth
    ranking: Literal["compact", "longest_path"] = "compact"
    rank_gap: float = 34.0
    node_gap: float = 16.0
    dummy_width: float = 4.0
    margin: float = 20.0
    order_sweeps: int = 24
    #: sweeps without improvement before the search stops
    patience: int = 6
    transpose_rounds: int = 4
    #: a second starting order is tried on drawings up to this many nodes (dummies included)
    second_start_below: int = 8000
    coordinate_passes: int = 8
    #: a node that splits into (or merges) several paths sits centred on them, or on the skip wire
    #: among them, and so does the chain it ends (the editor, whose wires run straight from card to
    #: card: a residual block's trunk and skip wire stay one straight line beside the branch)
    center_forks: bool = False


@dataclass(frozen=True)
class PlacedNode:
    """A node's box: centre ``(x, y)``, size, rank (row) and order (column index in its rank)."""

    id: Hashable
    x: float
    y: float
    width: float
    height: float
    rank: int
    order: int


@dataclass(frozen=True)
class RoutedEdge:
    """An edge's route from the bottom of ``source`` through its dummy points to the top of ``target``."""

    source: Hashable
    target: Hashable
    points: tuple[tuple[float, float], ...]


@dataclass
class Layout:
    """The laid-out graph: node boxes, edge routes, drawing size and the number of edge crossings."""

    nodes: dict[Hashable, PlacedNode]
    edges: list[RoutedEdge]
    width: float
    height: float
    crossings: int
    rank_ys: list[float]


def layered_layout(nodes: Sequence[Hashable], edges: Iterable[tuple[Hashable, Hashable]],
                   size_of: SizeOf | None = None, options: LayoutOptions = LayoutOptions()) -> Layout:
    """Return the layered layout of the graph; ``size_of(node)`` gives each box's (width, height).

    ``edges`` join members of ``nodes``; self-loops are ignored, parallel edges drawn once.
    """
    return _Layering(nodes, edges, size_of or (lambda _n: (80.0, 30.0)), options).run()


class _Layering:
    """The working state of one layout; nodes are integers, dummies numbered after the real nodes."""

    def __init__(self, nodes: Sequence[Hashable], edges: Iterable[tuple[Hashable, Hashable]], size_of: SizeOf,
                 options: LayoutOptions) -> None:
        self.options = options
        self.names = list(nodes)
        index = {name: i for i, name in enumerate(self.names)}
        self.real_count = len(self.names)
        sizes = [size_of(name) for name in self.names]
        self.width = [float(w) for w, _ in sizes]
        self.height = [float(h) for _, h in sizes]
        self.edges: list[tuple[int, int, bool]] = []  # (from, to, reversed) after cycle breaking
        self._break_cycles([(index[u], index[v]) for u, v in edges if u != v])

    # ------------------------------------------------------------------ steps

    def run(self) -> Layout:
        if not self.names:
            return Layout({}, [], 0.0, 0.0, 0, [])
        self._assign_ranks()
        self._add_dummies()
        # two starting orders (depth-first from the top, and from the bottom); the better one wins
        self._initial_order(from_bottom=False)
        crossings = self._reduce_crossings()
        if crossings and len(self.rank) <= self.options.second_start_below:
            first = self.layers
            self._initial_order(from_bottom=True)
            other = self._reduce_crossings()
            if other < crossings:
                crossings = other
            else:
                self.layers = first
                self._renumber()
        xs = self._assign_x()
        return self._result(xs, crossings)

    def _break_cycles(self, edges: list[tuple[int, int]]) -> None:
        out: list[list[int]] = [[] for _ in range(self.real_count)]
        for u, v in edges:
            out[u].append(v)
        state = [0] * self.real_count  # 0 new, 1 on the stack, 2 done
        back: set[tuple[int, int]] = set()
        for start in range(self.real_count):
            if state[start]:
                continue
            state[start] = 1
            stack = [(start, iter(out[start]))]
            while stack:
                node, children = stack[-1]
                for child in children:
                    if state[child] == 1:
                        back.add((node, child))
                    elif state[child] == 0:
                        state[child] = 1
                        stack.append((child, iter(out[child])))
                        break
                else:
                    state[node] = 2
                    stack.pop()
        seen: set[tuple[int, int]] = set()
        for u, v in edges:
            flipped = (u, v) in back
            a, b = (v, u) if flipped else (u, v)
            if (a, b) not in seen:
                seen.add((a, b))
                self.edges.append((a, b, flipped))

    def _assign_ranks(self) -> None:
        n = self.real_count
        preds: list[list[int]] = [[] for _ in range(n)]
        succs: list[list[int]] = [[] for _ in range(n)]
        for u, v, _ in self.edges:
            succs[u].append(v)
            preds[v].append(u)
        indegree = [len(p) for p in preds]
        order = [v for v in range(n) if indegree[v] == 0]
        for v in order:  # Kahn's algorithm; the list grows while we walk it
            for w in succs[v]:
                indegree[w] -= 1
                if indegree[w] == 0:
                    order.append(w)
        rank = [0] * n
        if self.options.ranking == "longest_path":
            for v in order:
                for w in succs[v]:
                    rank[w] = max(rank[w], rank[v] + 1)
        else:
            # as late as possible: leaves (parameters) and their little chains sit right above their
            # consumer instead of all crowding the top row
            for v in reversed(order):
                for w in succs[v]:
                    rank[v] = min(rank[v], rank[w] - 1)
            # raising a node with more inputs than outputs shortens more edges than it stretches
            for v in order:
                if preds[v] and len(preds[v]) > len(succs[v]):
                    rank[v] = max(rank[u] for u in preds[v]) + 1
        used = sorted(set(rank))
        compact = {r: i for i, r in enumerate(used)}
        self.rank = [compact[r] for r in rank]
        self.rank_count = len(used)

    def _add_dummies(self) -> None:
        self.up: list[list[int]] = [[] for _ in range(self.real_count)]
        self.down: list[list[int]] = [[] for _ in range(self.real_count)]
        self.chains: list[list[int]] = []
        for u, v, _ in self.edges:
            chain = [u]
            for r in range(self.rank[u] + 1, self.rank[v]):
                dummy = len(self.rank)
                self.rank.append(r)
                self.width.append(self.options.dummy_width)
                self.height.append(0.0)
                self.up.append([])
                self.down.append([])
                chain.append(dummy)
            chain.append(v)
            for a, b in zip(chain, chain[1:]):
                self.down[a].append(b)
                self.up[b].append(a)
            self.chains.append(chain)

    def _initial_order(self, from_bottom: bool) -> None:
        """Orders each rank by a depth-first visit from the top (or bottom): related nodes stay close."""
        total = len(self.rank)
        self.layers: list[list[int]] = [[] for _ in range(self.rank_count)]
        visited = [False] * total
        if from_bottom:
            starts = sorted(range(total), key=lambda v: (-self.rank[v], v))
            onward = self.up
        else:
            starts = sorted(range(total), key=lambda v: (self.rank[v], v))
            onward = self.down
        for start in starts:
            if visited[start]:
                continue
            visited[start] = True
            stack = [start]
            while stack:
                v = stack.pop()
                self.layers[self.rank[v]].append(v)
                for w in reversed(onward[v]):
                    if not visited[w]:
                        visited[w] = True
                        stack.append(w)
        self.pos = [0] * total
        self._renumber()

    def _renumber(self) -> None:
        for layer in self.layers:
            for i, v in enumerate(layer):
                self.pos[v] = i

    # ------------------------------------------------------------------ crossing reduction

    def _crossings(self) -> int:
        total = 0
        pos = self.pos
        for layer in self.layers[:-1]:
            total += count_inversions((pos[v], pos[w]) for v in layer for w in self.down[v])
        return total

    def _reduce_crossings(self) -> int:
        best = self._crossings()
        best_layers = [list(layer) for layer in self.layers]
        stale = 0
        for sweep in range(self.options.order_sweeps):
            if best == 0:
                break
            downward = sweep % 2 == 0
            ranks = range(1, self.rank_count) if downward else range(self.rank_count - 2, -1, -1)
            for r in ranks:
                self._order_by_median(r, self.up if downward else self.down)
            self._transpose(sideways=sweep % 4 >= 2)
            crossings = self._crossings()
            if crossings < best:
                best, best_layers, stale = crossings, [list(layer) for layer in self.layers], 0
            else:
                stale += 1
                if stale >= self.options.patience:
                    break
        self.layers = best_layers
        self._renumber()
        return best

    def _order_by_median(self, r: int, neighbours: list[list[int]]) -> None:
        pos = self.pos
        keys: dict[int, float] = {}
        loose: list[int] = []
        for v in self.layers[r]:
            places = sorted(pos[w] for w in neighbours[v])
            if not places:
                keys[v] = pos[v]  # nothing to follow: stay where it is
                loose.append(v)
                continue
            keys[v] = _weighted_median(places)
        if neighbours is self.up and loose:
            # a leaf (parameter) has nothing above it: it goes right after the ops it joins below
            placed = set(keys) - set(loose)
            for v in loose:
                partners = [keys[u] for w in self.down[v] for u in self.up[w] if u in placed]
                if partners:
                    keys[v] = _weighted_median(sorted(partners)) + 0.001
        self.layers[r].sort(key=lambda v: (keys[v], pos[v]))
        for i, v in enumerate(self.layers[r]):
            pos[v] = i

    def _pair_crossings(self, v: int, w: int) -> tuple[int, int]:
        """Returns the crossings among v's and w's edges with v left of w, and with them swapped."""
        pos = self.pos
        kept = swapped = 0
        for side in (self.up, self.down):
            for a in side[v]:
                pa = pos[a]
                for b in side[w]:
                    pb = pos[b]
                    if pa > pb:
                        kept += 1
                    elif pa < pb:
                        swapped += 1
        return kept, swapped

    def _transpose(self, sideways: bool = False) -> None:
        """Swaps neighbours in a rank while that removes crossings (Gansner et al.'s transpose).

        With ``sideways``, swaps that leave the count equal are made too (once per pair), which
        walks the order off plateaus where no single swap helps, as dot does on alternate sweeps.
        """
        improved = True
        rounds = 0
        while improved and rounds < self.options.transpose_rounds:
            improved = False
            rounds += 1
            for layer in self.layers:
                for i in range(len(layer) - 1):
                    v, w = layer[i], layer[i + 1]
                    kept, swapped = self._pair_crossings(v, w)
                    if swapped < kept or (sideways and rounds == 1 and kept and swapped == kept):
                        layer[i], layer[i + 1] = w, v
                        self.pos[v], self.pos[w] = i + 1, i
                        improved = improved or swapped < kept

    # ------------------------------------------------------------------ coordinates

    def _separation(self, a: int, b: int) -> float:
        gap = self.options.node_gap
        if a >= self.real_count and b >= self.real_count:
            gap /= 2  # parallel long edges may run closer than boxes
        return (self.width[a] + self.width[b]) / 2 + gap

    def _assign_x(self) -> list[float]:
        xs = [0.0] * len(self.rank)
        for layer in self.layers:
            self._place(layer, xs, [0.0] * len(layer), [1.0] * len(layer))
        # leaves (parameters) follow the op they feed, never the other way round: the data path
        # stays straight and the leaves gather at its sides
        def followed(side: list[list[int]]) -> list[list[int]]:
            return [[w for w in ws if self.up[w] or w >= self.real_count] or ws for ws in side]
        up, down = followed(self.up), followed(self.down)
        both = [a + b for a, b in zip(up, down)]
        if self.options.center_forks:
            real = self.real_count

            def fork_side(side: list[int]) -> list[int]:
                # a skip wire (a long edge's dummies) leaving a fork: the trunk follows the wire, so
                # the wire drawn straight from fork to merge passes beside the branch, not through it
                return [w for w in side if w >= real] or side

            both = [fork_side(d) if len(d) > 1 >= len(u) else fork_side(u) if len(u) > 1 >= len(d) else u + d
                    for u, d in zip(up, down)]
        for p in range(self.options.coordinate_passes):
            downward = p % 2 == 0
            ranks = range(1, self.rank_count) if downward else range(self.rank_count - 2, -1, -1)
            for r in ranks:
                self._align(r, xs, up if downward else down)
        for r in range(self.rank_count):
            self._align(r, xs, both)
        self._straighten_chains(xs)
        return xs

    def _straighten_chains(self, xs: list[float]) -> None:
        """Put each chain (one way in, one way out: a run of layers, a long edge) on one vertical line.

        The sweeps leave chains wobbling where two of them compete for a column; a chain moves to the
        first of a few candidate lines (its median first) that keeps every box of it clear of its
        neighbours in the rank, so the order, and with it every crossing count, stays as it was.
        """
        nxt = [ws[0] if len(ws) == 1 and len(self.up[ws[0]]) == 1 else -1 for ws in self.down]
        has_previous = [False] * len(xs)
        for w in nxt:
            if w >= 0:
                has_previous[w] = True
        chains = []
        for v in range(len(xs)):
            if has_previous[v] or nxt[v] < 0:
                continue
            chain = [v]
            while nxt[chain[-1]] >= 0:
                chain.append(nxt[chain[-1]])
            chains.append(chain)
        chains.sort(key=lambda c: (-len(c), c[0]))
        for chain in chains:
            current = sorted(xs[v] for v in chain)
            median = current[len(current) // 2]
            candidates = sorted(set(current), key=lambda x: (abs(x - median), x))[:6]
            if self.options.center_forks:
                forks = [xs[v] for v in (chain[0], chain[-1]) if len(self.up[v]) > 1 or len(self.down[v]) > 1]
                candidates = forks + candidates
            for x in candidates:
                if all(self._fits(v, x, xs) for v in chain):
                    for v in chain:
                        xs[v] = x
                    break

    def _fits(self, v: int, x: float, xs: list[float]) -> bool:
        layer, i = self.layers[self.rank[v]], self.pos[v]
        if i > 0 and x - xs[layer[i - 1]] < self._separation(layer[i - 1], v) - 1e-6:
            return False
        return not (i + 1 < len(layer) and xs[layer[i + 1]] - x < self._separation(v, layer[i + 1]) - 1e-6)

    def _align(self, r: int, xs: list[float], neighbours: list[list[int]]) -> None:
        layer = self.layers[r]
        desired, weights = [], []
        for v in layer:
            targets = [xs[w] for w in neighbours[v]]
            if not targets:
                desired.append(xs[v])
                weights.append(0.05)  # free node: stay, but let others push it
                continue
            targets.sort()
            mid = len(targets) // 2
            desired.append(targets[mid] if len(targets) % 2 else (targets[mid - 1] + targets[mid]) / 2)
            # dummies hold long edges straight; leaves give way rather than drag the op beside them
            weights.append(8.0 if v >= self.real_count else 1.0 if self.up[v] else 0.2)
        self._place(layer, xs, desired, weights)

    def _place(self, layer: list[int], xs: list[float], desired: list[float], weights: list[float]) -> None:
        """Sets the xs of ``layer`` closest to ``desired`` (weighted least squares) with boxes apart.

        With offsets o_i (the least distance from the first box), y_i = x_i - o_i must not decrease:
        an isotonic regression of (desired_i - o_i), solved exactly by pooling adjacent violators.
        """
        offsets = [0.0]
        for a, b in zip(layer, layer[1:]):
            offsets.append(offsets[-1] + self._separation(a, b))
        blocks: list[list[float]] = []  # [weight, weighted sum, count]
        for target, offset, weight in zip(desired, offsets, weights):
            blocks.append([weight, weight * (target - offset), 1])
            while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] > blocks[-1][1] / blocks[-1][0]:
                w, s, c = blocks.pop()
                blocks[-1][0] += w
                blocks[-1][1] += s
                blocks[-1][2] += c
        i = 0
        for weight, total, count in blocks:
            value = total / weight
            for _ in range(int(count)):
                xs[layer[i]] = value + offsets[i]
                i += 1

    # ------------------------------------------------------------------ result

    def _ports(self, xs: list[float]) -> tuple[list[float], list[float]]:
        """Returns where each edge leaves its source and enters its target along the box edge.

        Edges meeting one box are spread along its side in the order of their other ends, so
        arrowheads do not pile up on one point and the spread itself adds no crossing.
        """
        starts = [xs[chain[0]] for chain in self.chains]
        ends = [xs[chain[-1]] for chain in self.chains]
        leaving: dict[int, list[int]] = {}
        entering: dict[int, list[int]] = {}
        for k, chain in enumerate(self.chains):
            leaving.setdefault(chain[0], []).append(k)
            entering.setdefault(chain[-1], []).append(k)
        for table, result, far in ((leaving, starts, 1), (entering, ends, -2)):
            for v, ks in table.items():
                if len(ks) < 2:
                    continue
                ks.sort(key=lambda k: (xs[self.chains[k][far]], k))
                step = min(10.0, 0.6 * self.width[v] / (len(ks) - 1))
                for i, k in enumerate(ks):
                    result[k] = xs[v] + (i - (len(ks) - 1) / 2) * step
        return starts, ends

    def _result(self, xs: list[float], crossings: int) -> Layout:
        o = self.options
        left = min(xs[v] - self.width[v] / 2 for v in range(len(xs)))
        shift = o.margin - left
        band = [0.0] * self.rank_count
        for v in range(self.real_count):
            band[self.rank[v]] = max(band[self.rank[v]], self.height[v])
        rank_ys, y = [], o.margin
        for height in band:
            rank_ys.append(y + height / 2)
            y += height + o.rank_gap
        nodes = {}
        for v in range(self.real_count):
            nodes[self.names[v]] = PlacedNode(self.names[v], xs[v] + shift, rank_ys[self.rank[v]],
                                              self.width[v], self.height[v], self.rank[v], self.pos[v])
        starts, ends = self._ports(xs)
        edges = []
        for k, ((u, v, flipped), chain) in enumerate(zip(self.edges, self.chains)):
            points = [(xs[c] + shift, rank_ys[self.rank[c]]) for c in chain]
            points[0] = (starts[k] + shift, points[0][1] + self.height[u] / 2)
            points[-1] = (ends[k] + shift, points[-1][1] - self.height[v] / 2)
            if flipped:
                edges.append(RoutedEdge(self.names[v], self.names[u], tuple(reversed(points))))
            else:
                edges.append(RoutedEdge(self.names[u], self.names[v], tuple(points)))
        right = max(xs[v] + self.width[v] / 2 for v in range(len(xs))) + shift
        return Layout(nodes, edges, right + o.margin, y - o.rank_gap + o.margin, crossings, rank_ys)


def _weighted_median(places: list[int]) -> float:
    """Returns the median of sorted positions; an even count leans toward the denser side (as dot does)."""
    count = len(places)
    mid = count // 2
    if count % 2:
        return places[mid]
    if count == 2:
        return (places[0] + places[1]) / 2
    left, right = places[mid - 1] - places[0], places[-1] - places[mid]
    if left + right == 0:
        return (places[mid - 1] + places[mid]) / 2
    return (places[mid - 1] * right + places[mid] * left) / (left + right)


def count_inversions(pairs: Iterable[tuple[float, float]]) -> int:
    """Return how many pairs of segments ``(top_x, bottom_x)`` cross between two ranks.

    Sorting by (top, bottom) puts segments with the same top in bottom order, so they never count;
    what remains is the number of strict inversions of the bottom ends, counted with a Fenwick tree
    in O(E log E).
    """
    ordered = sorted(pairs)
    if len(ordered) < 2:
        return 0
    bottoms = sorted({bottom for _, bottom in ordered})
    tree = [0] * (len(bottoms) + 1)
    crossings = 0
    seen = 0
    for _, bottom in ordered:
        rank = bisect_left(bottoms, bottom) + 1
        # segments seen so far whose bottom is <= this one do not cross it
        not_crossing = 0
        i = rank
        while i > 0:
            not_crossing += tree[i]
            i -= i & -i
        crossings += seen - not_crossing
        i = rank
        while i < len(tree):
            tree[i] += 1
            i += i & -i
        seen += 1
    return crossings
