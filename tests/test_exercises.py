"""The self-checking exercises: reference solutions pass, typical wrong answers get told why.

``wavelearn.exercises.check(exercise_id, fn)`` grades a reader's function.
For every exercise these tests run the reference solution of
``tutorials/solutions.py`` (it must pass) and a typical wrong answer (it
must fail, with a message that names the entry, the expected and returned
values and, where one is known, the mistake).
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wavelearn import exercises
from wavelearn.exercises import EXERCISES, check, describe

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


def _load_solutions():
    spec = importlib.util.spec_from_file_location("tutorial_solutions", TUTORIALS / "solutions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


solutions = _load_solutions()


def test_every_exercise_has_a_solution():
    assert set(solutions.SOLUTIONS) == set(EXERCISES)


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_reference_solution_passes(exercise_id):
    result = check(exercise_id, solutions.SOLUTIONS[exercise_id])
    assert result.passed, result.message
    assert result.message.startswith(f"{exercise_id} (") and "passed" in result.message


# -- one typical wrong answer per exercise ----------------------------------------------


def _haar_step_swapped(x):
    a, d = solutions.haar_step(x)
    return d, a


def _haar_inverse_concatenated(a, d):
    return np.concatenate([(a + d) / np.sqrt(2), (a - d) / np.sqrt(2)])


def _haar_matrix_transposed(n):
    return solutions.haar_matrix(n).T


def _flip_without_reversal(h):
    n = np.arange(len(h))
    return (-1.0) ** (n + 1) * np.asarray(h)


def _reflect_extension(x, p):
    return np.concatenate([x[1:p + 1][::-1], x, x[-p - 1:-1][::-1]])


def _coeff_len_ceil(n, F, mode):
    return (n + 1) // 2


def _hard_threshold(c, tau):
    return np.where(np.abs(c) > tau, c, 0.0)


def _threshold_with_std(cD1, n):
    return np.std(cD1) * np.sqrt(2 * np.log(n))


def _dwt_matrix_transposed(n, wavelet, mode):
    return solutions.dwt_matrix(n, wavelet, mode).T


def _extension_adjoint_without_fold_back(g, n, p):
    return np.array(g[p:p + n])


def _gradient_with_waverec(x, weights, wavelet, level):
    import wavelearn as wl

    c = wl.wavedec(x, wavelet, "symmetric", level=level)
    cbar = [w * (1 - np.tanh(ck) ** 2) for w, ck in zip(weights, c, strict=True)]
    return wl.waverec(cbar, wavelet, "symmetric")[: x.shape[-1]]


def _channel_backward_untransposed(bands, W, dout):
    dbands, dW = solutions.channel_backward(bands, W, dout)
    return [g @ W[k] for k, g in enumerate(dout)], dW


def _level_backward_no_average(bands, M, repeats, dout):
    return solutions.level_backward(bands, M, repeats,
                                    [g * r for g, r in zip(dout, repeats, strict=True)])


def _layernorm_constant_statistics(dy, x, w, eps):
    _, dw, db = solutions.layernorm_backward(dy, x, w, eps)
    r = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + eps)
    return dy * w * r, dw, db


def _gelu_first_term_only(x, dy):
    t = np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
    return dy * 0.5 * (1 + t)


def _cross_entropy_summed(logits, targets):
    return solutions.cross_entropy_backward(logits, targets) * len(targets)


def _mean_pool_not_divided(dp, n):
    return np.repeat(dp[:, None, :], n, axis=1)


def _schedule_off_by_one(s, lr0, W, T, r):
    return lr0 * s / W if s < W else solutions.lr_schedule(s, lr0, W, T, r)


def _adam_with_l2(theta, g, m, v, t, lr, betas, eps, weight_decay):
    return solutions.adamw_update(theta, g, m, v, t, lr, betas, eps, 0.0)


def _receptive_field_off_by_one(F, J):
    return (F - 1) * (2**J - 1)


def _causal_filter_delayed(x, h, dilation):
    s = solutions.causal_filter(x, h, dilation)
    return np.concatenate([[0.0], s[:-1]])


def _contiguous_shard(batch, rank, world):
    return np.array_split(batch, world)[rank]


def _summed_gradients(grad_fn, X, y, world):
    return sum(grad_fn(X[r::world], y[r::world]) for r in range(world))


# exercise id -> (wrong answer, substrings its message must contain)
WRONG = {
    "01.1": (_haar_step_swapped, ["a[0] for x = [4.0, 6.0", "expected 7.07107, got -1.41421",
                                  "you returned the other band as a"]),
    "01.2": (_haar_inverse_concatenated, ["haar_inverse(a, d)[1]: expected", "interleave"]),
    "01.3": (_haar_matrix_transposed, ["haar_matrix(8)[0, 1]: expected 0.707107, got 0",
                                       "your matrix is the transpose"]),
    "02.1": (_flip_without_reversal, ["g[0] for h = db2's dec_lo: expected -0.482963, got 0.12941",
                                      "reverse h as well"]),
    "02.2": (_reflect_extension, ["symmetric_extension(x, 1)[0] for x = [1.0, 1.5",
                                  ": expected 1, got 1.5", "that is `reflect`"]),
    "02.3": (_coeff_len_ceil, ["coeff_len(7, 4, 'symmetric'): expected 5, got 4"]),
    "03.1": (_hard_threshold, ["soft_threshold(c, 1.2)[0] for c = [-3.0", ": expected -1.8, got -3",
                               "that is hard thresholding"]),
    "03.2": (_threshold_with_std, ["universal_threshold(cD1, 140): expected 0.922299",
                                   "median(|cD1|) / 0.6745"]),
    "04.1": (_dwt_matrix_transposed, ["dwt_matrix(8, 'haar', 'periodization')[0, 1]: expected 0",
                                      "your matrix is the transpose"]),
    "04.2": (_extension_adjoint_without_fold_back, [
        "symmetric_extension_adjoint(g, n=8, p=3)[0]: expected",
        "must be added back (folded) onto that sample", "dot-product test", "<E x, g> ="]),
    "04.3": (_gradient_with_waverec, ["dx[0]: expected", "you used waverec, the inverse",
                                      "gradient check of dx along the random direction u "
                                      "(numpy seed 0"]),
    "05.1": (_channel_backward_untransposed, [
        "dbands[0][0, 0, 0]: expected", "multiplies by W_k^T (the transposed matrix)",
        "gradient check of dbands (all bands, flattened) along the random direction u "
        "(numpy seed 0"]),
    "05.2": (_level_backward_no_average, ["dbands[0][0, 0, 0]: expected",
                                          "the 1/r_j of the averaging P_j is missing",
                                          "central difference"]),
    "05b.1": (_layernorm_constant_statistics, ["dx[0, 0, 0]: expected",
                                               "treated the mean and the variance as constants",
                                               "gradient check of dx"]),
    "05b.2": (_gelu_first_term_only, ["dx[0, 0]: expected", "second term",
                                      "gradient check of dx"]),
    "05b.3": (_cross_entropy_summed, ["dlogits[0, 0]: expected",
                                      "divide by the batch size", "gradient check of dlogits"]),
    "05b.4": (_mean_pool_not_divided, ["dh[0, 0, 0]: expected", "divide by N"]),
    "06.1": (_schedule_off_by_one, ["lr_schedule at step 0", "expected 0.00075, got 0",
                                    "off by one step"]),
    "06.2": (_adam_with_l2, ["theta after step 1", "decoupled weight decay"]),
    "07.1": (_receptive_field_off_by_one, ["receptive_field(F=2, J=1): expected 2 samples",
                                           "got 1", "off by one: count the sample at t itself"]),
    "07.2": (_causal_filter_delayed, ["causal_filter(x, h, 1)[0] for h = [0.5, 0.3, 0.2]: "
                                      "expected", "delayed by one sample", "off by one"]),
    "08.1": (_contiguous_shard, ["shard(arange(12), rank=0, world=2)[1]: expected 2, got 1",
                                 "like cards"]),
    "08.2": (_summed_gradients, ["the gradient[0] with world = 2 processes: expected",
                                 "you summed them"]),
}


def test_every_exercise_has_a_wrong_answer():
    assert set(WRONG) == set(EXERCISES)


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_wrong_answer_is_told_what_is_wrong(exercise_id):
    wrong, needles = WRONG[exercise_id]
    result = check(exercise_id, wrong)
    assert not result.passed and not result
    assert "not yet" in result.message
    for needle in needles:
        assert needle in result.message, f"{needle!r} missing from:\n{result.message}"


def test_not_attempted_and_crashing_answers():
    def haar_step(x):
        raise NotImplementedError

    result = check("01.1", haar_step)
    assert not result.passed and "not attempted yet" in result.message
    assert "haar_step(x) -> (a, d)" in result.message

    def crashes(x):
        return x[0::2] + x[1::3]  # shapes do not broadcast

    message = check("01.1", crashes).message
    assert "calling haar_step(x) with len(x) = 8 raised ValueError" in message


def test_answers_that_change_their_inputs_in_place_are_graded_on_the_right_values():
    def haar_step_in_place(x):
        a, d = solutions.haar_step(x)
        x[:] = 0.0  # must not change the grader's copy
        return a, d

    assert check("01.1", haar_step_in_place).passed


def test_wrong_shapes_and_return_counts_are_named():
    assert "expected 2 return values, got ndarray" in check("01.1", lambda x: x).message
    message = check("02.1", lambda h: np.asarray(h)[:-1]).message
    assert "expected shape (4,), got shape (3,)" in message


def test_unknown_id_and_bad_function():
    with pytest.raises(KeyError, match="'09.9' does not exist; the exercises are 01.1, 01.2"):
        check("09.9", solutions.haar_step)
    with pytest.raises(TypeError, match="fn must be your function, got int"):
        check("01.1", 3)
    assert describe("04.2").startswith("04.2 (the adjoint of the symmetric extension): write ")


# -- the checker's own oracles agree with the library ------------------------------------


def test_level_and_channel_forward_of_the_checker_match_the_library():
    from wavelearn.nn.mixing import mix_backward, mix_forward

    for level, mode in [(False, "channel"), (True, "level")]:
        bands, weight, dout, repeats = exercises.layers.mixing_case(3, level=level)
        mine = (exercises.layers.level_forward(bands, weight, repeats) if level
                else exercises.layers.channel_forward(bands, weight))
        theirs = mix_forward(np, mode, bands, weight, repeats)
        for a, b in zip(mine, theirs, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-12)
        dbands, dweight = mix_backward(np, mode, bands, weight, repeats, dout)
        ref = solutions.SOLUTIONS["05.2" if level else "05.1"](
            *((bands, weight, repeats, dout) if level else (bands, weight, dout)))
        for a, b in zip(ref[0], dbands, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-12)
        np.testing.assert_allclose(ref[1], dweight, atol=1e-12)


def test_receptive_field_formula_matches_the_causal_bank():
    from wavelearn.nn.mixing import causal_analysis

    for name in ("haar", "db2", "db4"):
        h = np.ones(2 * int(name[2:]) if name != "haar" else 2) / 2  # no zero taps
        for J in (1, 2, 3):
            n = 64
            impulse = np.zeros((1, n, 1))
            impulse[0, 0, 0] = 1.0  # response of a_J at t to x[0]: nonzero for t < field
            a = causal_analysis(np, impulse, h, J)[0][0, :, 0]
            reach = int(np.flatnonzero(np.abs(a) > 0)[-1]) + 1
            assert reach == solutions.receptive_field(h.size, J)


def test_import_wavelearn_does_not_import_the_exercises():
    code = "import sys, wavelearn; print('wavelearn.exercises' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    code = ("import sys, wavelearn.exercises; "
            "print(sorted(m for m in ('torch', 'cupy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
