"""Hand-written forward and backward passes, one concept per file (CS231n contract).

Every layer is `y, cache = forward(params, x, ...)` and `dx, grads = backward(dy, cache)`, where
`params` and `grads` are dicts keyed exactly like the torch module's `state_dict()`.
"""
