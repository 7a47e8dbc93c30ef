"""The layered (Sugiyama-style) layout ``sg.draw`` uses when Graphviz is not installed.

Nodes go into layers along the data flow, are ordered within each layer by the barycentre of
their neighbours, and are spaced without overlaps; long edges pass through one dummy point per
layer they cross. Edges cross each layer's band straight, beside the boxes, and turn only in the
empty gaps between bands, so no edge passes behind a box. Sizes are in inches.
"""
from __future__ import annotations

import networkx as nx

FONT_SIZE = 9.0
CHAR_WIDTH = FONT_SIZE * 0.6 / 72      # inches per character, a fair average for DejaVu Sans
LINE_HEIGHT = FONT_SIZE * 1.35 / 72    # inches per text line


def node_size(attrs):
    lines = attrs["label"].split("\n")
    width = max(len(line) for line in lines) * CHAR_WIDTH
    height = len(lines) * LINE_HEIGHT
    if attrs["kind"] in ("op", "fused"):
        return width + 0.2, height + 0.14
    if attrs["kind"] == "constant":
        return width + 0.06, height + 0.04
    return width * 1.2 + 0.25, height + 0.2     # an ellipse needs room around its text


def layered_layout(picture, rankdir="TB"):
    """Positions (inches), sizes and edge routes for ``picture``: layers, barycentre ordering, spacing.

    A node gets the layer one below its deepest input, then moves down to sit just above its first
    consumer (so a value computed early but used late does not drag a long edge); edges spanning
    several layers pass through dummy points so they route around nodes. Each route leaves its source
    and enters its target through a port on the outline (several edges at one node get ports spread
    along its side), crosses each layer's band straight along the layering direction beside the
    boxes, and turns only in the empty gaps between bands, so no edge passes behind a box.
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(picture.nodes)
    graph.add_edges_from((s, t) for s, t, _, _ in picture.edges)
    layer = {}
    for key in nx.topological_sort(graph):
        predecessors = list(graph.predecessors(key))
        layer[key] = 1 + max((layer[p] for p in predecessors), default=-1)
    for key in reversed(list(nx.topological_sort(graph))):   # then pull each node down next to its first consumer
        successors = list(graph.successors(key))
        if successors:
            layer[key] = max(layer[key], min(layer[s] for s in successors) - 1)
    if layer:
        low = min(layer.values())
        layer = {k: v - low for k, v in layer.items()}

    # Long edges become chains through dummy nodes, one per layer crossed.
    chains, sizes = [], {k: node_size(a) for k, a in picture.nodes.items()}
    for number, (source, target, _, _) in enumerate(picture.edges):
        chain = [source]
        for depth in range(layer[source] + 1, layer[target]):
            dummy = ("dummy", number, depth)
            layer[dummy] = depth
            sizes[dummy] = (0.05, 0.05)
            chain.append(dummy)
        chain.append(target)
        chains.append(chain)
    n_layers = 1 + max(layer.values(), default=0)
    rows = [[] for _ in range(n_layers)]
    for key in layer:
        rows[layer[key]].append(key)
    up, down = {k: [] for k in layer}, {k: [] for k in layer}
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            down[a].append(b)
            up[b].append(a)

    # Barycentre ordering: sweep down and up, each node moving to the mean position of its neighbours.
    position = {k: i for row in rows for i, k in enumerate(row)}
    # Big graphs (many edge points) get fewer sweeps: the picture barely improves and time adds up.
    sweeps = 8 if len(layer) < 3000 else 4
    for sweep in range(sweeps):
        order = range(1, n_layers) if sweep % 2 == 0 else range(n_layers - 2, -1, -1)
        for depth in order:
            neighbours = up if sweep % 2 == 0 else down
            row = rows[depth]
            centre = {k: (sum(position[n] for n in neighbours[k]) / len(neighbours[k])
                          if neighbours[k] else position[k]) for k in row}
            row.sort(key=lambda k: (centre[k], position[k]))
            for i, k in enumerate(row):
                position[k] = i

    # Coordinates: along a layer, nodes packed in order and then nudged toward their neighbours.
    across = 0 if rankdir in ("TB", "BT") else 1          # which size component lies along a layer

    def extent(k):
        return sizes[k][across]

    def gap(a, b):      # edges passing through a layer may run closer together than boxes
        return 0.22 - 0.08 * (isinstance(a, tuple) + isinstance(b, tuple))

    coordinate = {}
    for row in rows:
        x = 0.0
        for previous, k in zip([None] + row, row):
            x += gap(previous, k) if previous is not None else 0.0
            coordinate[k] = x + extent(k) / 2
            x += extent(k)
    for sweep in range(12 if len(layer) < 3000 else 4):
        neighbours = up if sweep % 2 == 0 else down
        for row in rows:
            wanted = [sum(coordinate[n] for n in neighbours[k]) / len(neighbours[k]) if neighbours[k]
                      else coordinate[k] for k in row]
            _place_in_order(row, wanted, coordinate, extent, gap)
    low = min((coordinate[k] - extent(k) / 2 for k in coordinate), default=0.0)
    coordinate = {k: v - low for k, v in coordinate.items()}

    # Layers: each band as thick as its thickest node.
    thickness = [max((sizes[k][1 - across] for k in row), default=0.1) for row in rows]
    rank_gap = 0.42 if across == 0 else 0.5
    band_centre, offset = [], 0.0
    for t in thickness:
        band_centre.append(offset + t / 2)
        offset += t + rank_gap
    total_rank = offset - rank_gap if rows else 0.0
    total_across = max((coordinate[k] + extent(k) / 2 for k in coordinate), default=0.0)

    def point(k):
        rank = band_centre[layer[k]]
        if rankdir == "BT":
            rank = total_rank - rank
        return (coordinate[k], rank) if across == 0 else (rank, coordinate[k])

    centres = {k: point(k) for k in layer}
    width, height = (total_across, total_rank) if across == 0 else (total_rank, total_across)

    def xy(along, rank):
        if rankdir == "BT":
            rank = total_rank - rank
        return (along, rank) if across == 0 else (rank, along)

    band = [(c - t / 2, c + t / 2) for c, t in zip(band_centre, thickness)]
    out_port, in_port = _ports(chains, coordinate, extent, first=True), _ports(chains, coordinate, extent, first=False)
    routes = []
    for number, chain in enumerate(chains):
        source, target = chain[0], chain[-1]
        start_along = coordinate[source] + out_port[number]
        end_along = coordinate[target] + in_port[number]
        start = band_centre[layer[source]] + _half_depth(picture.nodes[source]["kind"], sizes[source], across,
                                                         out_port[number])
        end = band_centre[layer[target]] - _half_depth(picture.nodes[target]["kind"], sizes[target], across,
                                                       in_port[number])
        points = [(start_along, start), (start_along, band[layer[source]][1])]
        for dummy in chain[1:-1]:
            points += [(coordinate[dummy], band[layer[dummy]][0]), (coordinate[dummy], band[layer[dummy]][1])]
        points += [(end_along, band[layer[target]][0]), (end_along, end)]
        kept = [points[0]] + [p for previous, p in zip(points, points[1:]) if abs(p[1] - previous[1]) > 1e-9
                              or abs(p[0] - previous[0]) > 1e-9]
        routes.append([xy(along, rank) for along, rank in kept])
    return centres, sizes, routes, (width, height)


def _ports(chains, coordinate, extent, first):
    """Offsets along the layer of each edge's port at its source (``first``) or target: the edges at one
    node spread over the middle of its side, ordered as their other ends lie, so they neither cross
    needlessly nor run on top of each other."""
    at_node = {}
    for number, chain in enumerate(chains):
        node, neighbour = (chain[0], chain[1]) if first else (chain[-1], chain[-2])
        at_node.setdefault(node, []).append((coordinate[neighbour], number))
    offsets = {}
    for node, ends in at_node.items():
        ends.sort()
        for j, (_, number) in enumerate(ends):
            offsets[number] = ((j + 1) / (len(ends) + 1) - 0.5) * 0.7 * extent(node)
    return offsets


def _half_depth(kind, size, across, offset):
    """How far a node's outline lies from its centre, along the layering direction, ``offset`` off centre."""
    half_along, half_depth = size[across] / 2, size[1 - across] / 2
    if kind in ("op", "fused", "constant"):
        return half_depth
    return half_depth * max(0.0, 1.0 - (offset / half_along) ** 2) ** 0.5      # an ellipse


def _place_in_order(row, wanted, coordinate, extent, gap):
    """Move the nodes of ``row`` toward ``wanted`` centres, keeping their order and no overlaps."""
    placed = list(wanted)
    # Forward pass pushes right, backward pass pushes left; averaging keeps the row centred on its wishes.
    forward = list(placed)
    for i in range(1, len(row)):
        minimum = forward[i - 1] + (extent(row[i - 1]) + extent(row[i])) / 2 + gap(row[i - 1], row[i])
        forward[i] = max(forward[i], minimum)
    backward = list(placed)
    for i in range(len(row) - 2, -1, -1):
        maximum = backward[i + 1] - (extent(row[i + 1]) + extent(row[i])) / 2 - gap(row[i], row[i + 1])
        backward[i] = min(backward[i], maximum)
    for i, k in enumerate(row):
        coordinate[k] = (forward[i] + backward[i]) / 2
    for i in range(1, len(row)):        # the average can overlap again; one more forward pass fixes it
        minimum = coordinate[row[i - 1]] + (extent(row[i - 1]) + extent(row[i])) / 2 + gap(row[i - 1], row[i])
        coordinate[row[i]] = max(coordinate[row[i]], minimum)
