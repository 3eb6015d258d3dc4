"""The MLP benchmark's data and its peers: scikit-learn's MLPClassifier and a JAX MLP.

`prepare DIR` writes the 1,797×64 ten-class digits set (scikit-learn's load_digits),
standardised with the training rows' statistics and split 80/20 with a fixed seed, as
DIR/{x_train,y_train,x_test,y_test}.npy — the files gpuflow reads too.
`sklearn DIR EPOCHS` and `jax DIR EPOCHS` train the same network (64-128-64-10, ReLU, Adam with
learning rate 1e-3, batch 64) one epoch at a time and print, per epoch, "epoch train_seconds
test_accuracy"; evaluation time is not counted as training.
"""
import sys
import time

import numpy as np


def load(d):
    return [np.load(f"{d}/{n}.npy") for n in ("x_train", "y_train", "x_test", "y_test")]


def prepare(d):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    mean, std = xtr.mean(0), xtr.std(0)
    std[std == 0] = 1
    for name, a in (("x_train", (xtr - mean) / std), ("x_test", (xte - mean) / std)):
        np.save(f"{d}/{name}.npy", a.astype(np.float32))
    np.save(f"{d}/y_train.npy", ytr.astype(np.int64))
    np.save(f"{d}/y_test.npy", yte.astype(np.int64))


def sklearn_run(d, epochs):
    from sklearn.neural_network import MLPClassifier
    xtr, ytr, xte, yte = load(d)
    clf = MLPClassifier(hidden_layer_sizes=(128, 64), activation="relu", solver="adam", learning_rate_init=1e-3,
                        batch_size=64, random_state=0, shuffle=True)
    classes = np.unique(ytr)
    for e in range(1, epochs + 1):
        t0 = time.perf_counter()
        clf.partial_fit(xtr, ytr, classes=classes)
        dt = time.perf_counter() - t0
        print(e, f"{dt:.6f}", f"{clf.score(xte, yte):.6f}", flush=True)


def jax_run(d, epochs):
    import jax
    import jax.numpy as jnp
    xtr, ytr, xte, yte = load(d)
    key = jax.random.PRNGKey(0)
    sizes = [64, 128, 64, 10]
    params = []
    for i in range(3):
        key, k = jax.random.split(key)
        params.append((jax.random.normal(k, (sizes[i], sizes[i + 1])) * jnp.sqrt(2.0 / sizes[i]), jnp.zeros(sizes[i + 1])))

    def forward(p, x):
        for w, b in p[:-1]:
            x = jax.nn.relu(x @ w + b)
        w, b = p[-1]
        return x @ w + b

    def loss(p, x, y):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(forward(p, x)), y[:, None], axis=1))

    @jax.jit
    def step(p, m, v, t, x, y):
        g = jax.grad(loss)(p, x, y)
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        p = jax.tree_util.tree_map(lambda p, m, v: p - 1e-3 * (m / (1 - 0.9 ** t)) / (jnp.sqrt(v / (1 - 0.999 ** t)) + 1e-8), p, m, v)
        return p, m, v

    predict = jax.jit(lambda p, x: jnp.argmax(forward(p, x), axis=1))
    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)
    xtr_j, ytr_j = jnp.asarray(xtr), jnp.asarray(ytr)
    rng = np.random.default_rng(0)
    t = 0
    # Compile once outside the timed epochs.
    params_c, _, _ = step(params, m, v, 1, xtr_j[:64], ytr_j[:64])
    jax.block_until_ready(params_c)
    for e in range(1, epochs + 1):
        order = rng.permutation(len(xtr))
        t0 = time.perf_counter()
        for s in range(0, len(order), 64):
            idx = order[s:s + 64]
            if len(idx) < 64:  # a ragged last batch would trigger a recompilation
                continue
            t += 1
            params, m, v = step(params, m, v, t, xtr_j[idx], ytr_j[idx])
        jax.block_until_ready(params)
        dt = time.perf_counter() - t0
        acc = float(np.mean(np.asarray(predict(params, jnp.asarray(xte))) == yte))
        print(e, f"{dt:.6f}", f"{acc:.6f}", flush=True)


if __name__ == "__main__":
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "prepare":
        prepare(d)
    elif cmd == "sklearn":
        sklearn_run(d, int(sys.argv[3]))
    elif cmd == "jax":
        jax_run(d, int(sys.argv[3]))
