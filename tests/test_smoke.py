import numpy as np

import minigrad as mg


def test_square_sum_gradient():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x.detach().numpy())


def test_compiled_backend_is_built():
    assert "cython" in mg.backend.available(), mg.backend.info()
