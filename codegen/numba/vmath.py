"""Vectorisable ``exp``, ``expm1``, ``tanh``, ``log``, ``log1p``, ``sin``, ``cos``, ``tan``, ``erf``, ``erfc``,
``log2``, ``log10``, ``exp2``, ``sinh``, ``cosh``, ``arctan``, ``arctan2``, ``arcsin``, ``arccos``, ``arcsinh``,
``arccosh``, ``arctanh``, ``hypot``, ``cbrt`` and ``pow`` for the loops the numba backend generates.

Numba calls libm's scalar functions for ``np.exp``, ``np.tanh``, ``np.log``, ``np.sin``, ... (the pip builds of
llvmlite have no SVML), and a call inside a loop keeps LLVM from vectorising it. These functions are branch-free
(selects instead of branches), call nothing, and read or make a float's exponent through its bits
(``_float64_bits`` and ``_bits_to_float64``, intrinsics): inlined into a fused loop, LLVM vectorises the loop
with the machine's widest vectors, like NumPy's own SIMD loops and XLA's polynomial approximations. The numba
backend writes them instead of libm's calls by default (``sg.function(..., vector_math=False)`` keeps libm).

How they are inlined, cheaply: each public name (``exp_f64``, ...) is an intrinsic whose call site is an
ordinary call of the body (``_exp_f64``, compiled once per install: Numba's disk cache) marked
``alwaysinline`` for LLVM. LLVM then inlines the body into the kernel's loop and vectorises it, which costs
milliseconds; Numba's own ``inline="always"`` re-typed the body at every call site (0.2-1 s each), and a
plain call leaves the larger bodies (tanh, log1p) as calls and the loop scalar.

Accuracy (tests/codegen/test_vmath.py checks each bound on two million points per function against the
80-bit ``long double`` functions, on a sample against mpmath, and the special values):

- ``exp_f64``: within 1 ulp of the exact result (0.98 at most over the test's points; NumPy's own: 0.70);
  0 below -745.1332191019412 (the smallest subnormal's threshold), inf above 709.782712893384, subnormal
  results included, NaN for NaN.
- ``tanh_f64``: within 2 ulp (1.33 at most over the test's points; NumPy's own: 1.19); ``tanh(±0) = ±0``,
  ±1 for large ±x and ±inf, NaN for NaN.
- ``log_f64``: within 1 ulp (0.84 at most); -inf at ±0, NaN below 0, subnormal inputs included.
- ``log1p_f64``: within 2 ulp (1.18 at most); ``log1p(±0) = ±0``, -inf at -1, NaN below.
- ``expm1_f64``: within 3 ulp (2.004 at most over the test's points, just above ``ln 2 / 2`` where
  ``2 expm1(r) + 1`` loses a bit; 1 ulp for ``|x| < ln 2 / 2``); ``expm1(±0) = ±0``, subnormal ``x`` returned
  as they are, -1 below -40, inf above 709.782712893384, NaN for NaN. ``expm1_f32``: within 2 ulp of
  float32 (1.55 at most on the test's points), -1 below -18, inf past 88.72.
- ``exp_f32`` and ``log_f32`` within 1 ulp of float32, ``tanh_f32`` and ``log1p_f32`` within 2 (measured over
  all 2**32 float32 values: 0.99, 0.83, 1.33 and 1.44 ulp at most; every inf, NaN, ±0 and subnormal case as
  NumPy's). They compute in float32 throughout, so a vector holds 16 of them with AVX-512, not 8: Cephes'
  single-precision algorithms (``expf``, ``tanhf``, ``logf``) with the same structure as the float64 ones.

- ``sin_f64`` and ``cos_f64`` within 1 ulp (0.77 at most over tests/codegen/test_vtrig.py's points; NumPy's own
  here: 1.95 and 7.95), ``tan_f64`` within 3 ulp (2.15 at most; it is ``sin(r) / cos(r)``), over the whole float64
  range: the argument reduction is exact (Payne and Hanek's, in integers, for every ``|x| >= pi / 4``: see the
  section "sin, cos, tan" below), so ``sin(1e22)`` and the arguments closest to a multiple of pi / 2 keep every
  bit. ``sin(±0) = ±0``, ``tan(±0) = ±0``, NaN for ±inf and NaN. ``sin_f32``, ``cos_f32``, ``tan_f32``: a
  96-bit reduction of their own (a float32 has 24 significant bits) and the float64 kernels, rounded once:
  within 1 ulp of float32 (0.5 measured: correctly rounded on the test's four million points). Per element on
  one core here: float64 5.3 ns (libm's ``sin``: 16.5 ns; NumPy: 16.2), float32 3.2 ns (libm's ``sinf``:
  8.5 ns; NumPy's AVX-512 float32 loop 0.5 ns, which it buys with a scalar fallback for large arguments that a
  branch-free loop cannot take), the reduction's integer products and table gathers being most of it.
- ``erf_f64`` within 1 ulp (0.84 at most against mpmath on tests/codegen/test_verf.py's sample; SciPy's own: 2.3),
  ``erfc_f64`` within 4 ulp (2.04 at most: its tail is two exps and a division); ±1, 0 and 2 at the limits as
  SciPy, NaN for NaN. ``erf_f32``, ``erfc_f32``: the float64 functions rounded once (within 1 ulp of float32).
  About 5 times faster than SciPy's on large arrays here, and they vectorise inside fused loops.
- ``pow_f64`` within 1 ulp (0.553 at most against long double on tests/codegen/test_vpow.py's three million
  points: nearly always correctly rounded), and exact where the power is a double (``2.0 ** 10``, ``9.0 ** 0.5``,
  every ``2.0 ** k``): the logarithm and the product with ``y`` carried as two doubles, an exp of that pair
  rounded once. C99's special cases as NumPy (``pow(x, ±0) = pow(1, y) = 1``, a negative base with an
  integer exponent, NaN with any other, zeros and infinities). ``pow_f32``: the float64 function rounded once.
  About libm's speed alone (its table-driven scalar ``pow`` is fast); what it changes is the loop around it,
  which stays vectorised.
- ``log2_f64``, ``log10_f64`` and ``exp2_f64`` within 1 ulp (0.50, 0.50 and 0.55 at most against long double on
  tests/codegen/test_vlog2.py's points; NumPy's: 0.52, 0.59, 0.69), exact at powers of two and ten and at
  integer exponents: pow's two-double logarithm and exp with the constant as two doubles. The float32
  versions: the float64 functions rounded once.
- ``sinh_f64`` within 3 ulp and ``cosh_f64`` within 2 (2.18 and 1.43 at most against long double on
  tests/codegen/test_vhyperbolic.py's points; NumPy's: 0.85, 0.75): fdlibm's ranges (expm1 near 0, exp below
  22, ``exp(|x| - ln 2)`` by pow's exp of a pair above, so they overflow only past 710.4758600739439, as
  NumPy's). ``sinh(±0) = ±0``. The float32 versions: the float64 functions rounded once.
- ``arctan_f64`` within 1 ulp and ``arctan2_f64`` within 2 (0.81 and 1.34 at most against long double on
  tests/codegen/test_vinverse.py's points; NumPy's: 0.57, 0.76): fdlibm's algorithms, the five argument ranges
  chosen by selects (one division each); ``arctan2`` keeps C99's special cases for zeros, infinities and NaN,
  bit for bit as NumPy's. 10M float64 on one core here: 15 and 28 ms against NumPy's 180 and 190. The float32
  versions: the float64 functions rounded once.
- ``arcsin_f64`` and ``arccos_f64`` within 1 ulp (0.85 and 0.88 at most; NumPy's: 0.82, 0.81): fdlibm's, both
  ranges computed and one chosen; NaN outside [-1, 1], ``arcsin(±0) = ±0``, ``arccos(-1) = pi``. 10M float64:
  15 ms each (NumPy: 182 and 23). The float32 versions: the float64 functions rounded once.
- ``arcsinh_f64``, ``arccosh_f64``, ``arctanh_f64`` within 3 ulp (1.86, 2.34 and 1.97 at most against long
  double on tests/codegen/test_vinverse.py's points; NumPy's: 0.71, 0.73, 0.61): fdlibm's formulas with the
  argument of each range chosen by selects and one ``log1p`` for all; ``arcsinh(±0) = ±0``, NaN below 1 for
  arccosh and outside [-1, 1] for arctanh, ``arctanh(±1) = ±inf``. The float32 versions: the float64
  functions rounded once.
- ``hypot_f64`` within 1 ulp (0.75 at most on tests/codegen/test_vinverse.py's points, as NumPy's): both operands
  scaled by a power of two as fdlibm scales them, the sum of squares as two doubles and its square root
  corrected once; overflow where NumPy's overflows, ``hypot(inf, nan) = inf`` as C's. 10M float64 on one
  core: 14 ms against NumPy's 370. ``hypot_f32``: the float64 function rounded once.
- ``cbrt_f64`` within 1 ulp (0.67 at most; NumPy's 0.55): FreeBSD's algorithm (an estimate from the exponent
  divided by 3, a polynomial step, one Newton step), exact on perfect cubes; ±0, ±inf and NaN as they are.
  10M float64: 15 ms against NumPy's 195. ``cbrt_f32``: the float64 function rounded once.

Cody-Waite reduction for ``exp``: ``x = k ln 2 + r`` with ``|r| <= ln 2 / 2`` (``ln 2`` split into a high part
whose products with ``k`` are exact and a low part), ``exp(r)`` by its Taylor polynomial to degree 13 (the
next term is below 2**-60 of the result; the 1 added last), then scaled by ``2**k`` in two steps
(``2**(k - k // 2)`` and ``2**(k // 2)``) so that subnormal results are rounded once. ``tanh``: Cephes'
rational approximation ``x + x**3 P(x**2) / Q(x**2)`` for ``|x| < 0.625``, and ``1 - 2 / (exp(2 |x|) + 1)``
with the sign of x above. ``log``: fdlibm's algorithm (the mantissa in [sqrt(2) / 2, sqrt(2)), a minimax
polynomial in ``s = f / (2 + f)``); ``log1p``: ``log(1 + x)`` corrected by what the rounding of ``1 + x`` lost.
"""
from __future__ import annotations

import numba as nb
import numpy as np
import llvmlite.binding as llvm
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

#: the bodies: compiled once per install (Numba's disk cache); inlined into one another by Numba (a body calling
#: another is compiled once), into kernels by LLVM (``_inlined``)
_body = nb.njit(inline="always", cache=True, error_model="numpy")


def _inlined(body, nbtype, arity=1, through=None):
    """An intrinsic calling ``body`` (of ``nbtype``, float64 or float32, its ``arity`` arguments and result)
    through a call LLVM always inlines; other argument types are converted to ``nbtype`` first. With
    ``through`` (float64), ``body`` is the float64 function: the arguments are widened to it and its result
    rounded once to ``nbtype`` (a float32 function that is its float64 one rounded, with no body of its own).

    The body is compiled once (or loaded from Numba's disk cache), its code linked into the calling kernel's
    module, and the call marked ``alwaysinline``: LLVM's inliner, not Numba's, puts the body into the
    kernel's loop. The bodies raise nothing, so the call's status is not read."""
    computed = through or nbtype
    argtypes = (computed,) * arity

    def typer(typingctx, *given):
        if len(given) != arity or not all(isinstance(x, (types.Float, types.Integer, types.Boolean))
                                          for x in given):
            return None

        def codegen(context, builder, signature, args):
            body.compile(argtypes)
            compiled = body.overloads[argtypes]
            context.add_linking_libs([compiled.library])
            function = context.declare_function(builder.module, compiled.fndesc)
            values = [context.cast(builder, value, given_type, computed)
                      for value, given_type in zip(args, signature.args)]
            _, result = context.call_conv.call_function(builder, function, computed, argtypes, values,
                                                        attrs=("alwaysinline",))
            return context.cast(builder, result, computed, nbtype)
        return nbtype(*given), codegen

    if arity == 1:     # Numba's intrinsic reads the typer's parameters: a fixed list where it can be one
        def one(typingctx, x):
            return typer(typingctx, x)
        chosen = one
    else:
        def two(typingctx, x, y):
            return typer(typingctx, x, y)
        chosen = two
    name = body.py_func.__name__.lstrip("_")
    if through is not None:
        name = name.replace("_f64", "_f32")
        chosen.__doc__ = f"``{name}``: {name.replace('_f32', '_f64')} on the float64 value, rounded once to float32."
    else:
        chosen.__doc__ = body.py_func.__doc__
    chosen.__name__ = chosen.__qualname__ = name
    return intrinsic(prefer_literal=False)(chosen)


@intrinsic
def _bits_to_float64(typingctx, bits):
    """The float64 whose bits are the int64 ``bits`` (LLVM's bitcast: no call, vectorises)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _float64_bits(typingctx, value):
    """The int64 holding the bits of the float64 ``value`` (LLVM's bitcast)."""
    if value != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _bits_to_float32(typingctx, bits):
    """The float32 whose bits are the low 32 bits of the integer ``bits`` (LLVM's bitcast; Numba computes
    with int64 where int32 operands meet)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if bits.bitwidth > 32:
            value = builder.trunc(value, ir.IntType(32))
        elif bits.bitwidth < 32:
            value = builder.sext(value, ir.IntType(32)) if bits.signed else builder.zext(value, ir.IntType(32))
        return builder.bitcast(value, ir.FloatType())
    return types.float32(bits), codegen


@intrinsic
def _float32_bits(typingctx, value):
    """The int32 holding the bits of the float32 ``value`` (LLVM's bitcast)."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.int32(types.float32), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (LLVM's ``llvm.fma``: one instruction where the CPU has FMA; only used then)."""
    if not (a == b == c == types.float64):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return types.float64(types.float64, types.float64, types.float64), codegen


#: whether this machine multiplies and adds with one rounding in hardware (then ``_two_product`` is two
#: instructions, else Dekker's seventeen; the code is compiled for this machine, as Numba's cache is)
_HAS_FMA = bool(llvm.get_host_cpu_features().get("fma"))

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01        # 0x3fe62e42fee00000: k * _LN2_HI is exact for |k| < 2**11
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0                 # 1.5 * 2**52: (y + _ROUND) - _ROUND rounds y to the nearest integer
_EXP_HIGH = 709.782712893384                # above: inf
_EXP_LOW = -745.1332191019412               # below: 0
# 1 / n! for n = 2 .. 13
_C2, _C3, _C4, _C5 = 1 / 2, 1 / 6, 1 / 24, 1 / 120
_C6, _C7, _C8, _C9 = 1 / 720, 1 / 5040, 1 / 40320, 1 / 362880
_C10, _C11, _C12, _C13 = 1 / 3628800, 1 / 39916800, 1 / 479001600, 1 / 6227020800


@_body
def _expm1_reduced(r):
    """``expm1(r) = r + r**2 q(r)`` for ``|r| <= ln 2 / 2``: q by Estrin's scheme (fewer dependent steps than
    Horner, the same terms). exp adds the 1 last, so the rounding errors of the terms count against
    ``|r + ...| <= 0.42``, not 1."""
    r2 = r * r
    r4 = r2 * r2
    q01 = _C2 + r * _C3
    q23 = _C4 + r * _C5
    q45 = _C6 + r * _C7
    q67 = _C8 + r * _C9
    q89 = _C10 + r * _C11
    q1011 = _C12 + r * _C13
    q = (q01 + r2 * q23) + r4 * ((q45 + r2 * q67) + r4 * (q89 + r2 * q1011))
    return r + r2 * q


@_body
def _exp_f64(x):
    """``exp(x)`` for a float64 ``x``, within 1 ulp (see the module's docstring)."""
    clamped = x if x > -746.0 else -746.0            # NaN -> -746 here; the select below returns NaN
    clamped = clamped if clamped < 710.0 else 710.0
    k = (clamped * _LOG2E + _ROUND) - _ROUND
    r = (clamped - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 + _expm1_reduced(r)
    n = np.int64(k)
    half = n >> 1
    scaled = p * _bits_to_float64((n - half + 1023) << 52) * _bits_to_float64((half + 1023) << 52)
    scaled = scaled if x < _EXP_HIGH else np.inf
    scaled = scaled if x > _EXP_LOW else 0.0
    return scaled if x == x else x


_EXPM1_LOW = -40.0                            # below: -1 (exp(x) is under half an ulp of 1)


@_body
def _expm1_f64(x):
    """``expm1(x)`` for a float64 ``x``, within 2 ulp (see the module's docstring): exp's reduction
    ``x = k ln 2 + r``, ``expm1(r) = r + r**2 q(r)`` without the 1, then ``2**k expm1(r) + (2**k - 1)``
    (exact ``2**k - 1`` for ``k <= 56``; beyond, ``2**k (1 + expm1(r))`` as exp computes it)."""
    clamped = x if x > _EXPM1_LOW else _EXPM1_LOW   # NaN -> -40 here; the select below returns NaN
    clamped = clamped if clamped < 710.0 else 710.0
    k = (clamped * _LOG2E + _ROUND) - _ROUND
    r = (clamped - k * _LN2_HI) - k * _LN2_LO
    e = _expm1_reduced(r)                           # |r| <= ln 2 / 2
    n = np.int64(k)
    small = n < 57
    two_k = _bits_to_float64(((n if small else 0) + 1023) << 52)
    middle = two_k * e + (two_k - 1.0)
    half = n >> 1
    large = (1.0 + e) * _bits_to_float64((n - half + 1023) << 52) * _bits_to_float64((half + 1023) << 52)
    result = middle if small else large
    result = result if x < _EXP_HIGH else np.inf
    result = result if x > _EXPM1_LOW else -1.0
    result = result if x != 0.0 else x               # expm1(-0) = -0
    return result if x == x else x


# Cephes tanh.c: tanh(x) = x + x**3 P(x**2) / Q(x**2) for |x| < 0.625, relative error 2.4e-16 there
_P0, _P1, _P2 = -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3
_Q1, _Q2, _Q3 = 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3


@_body
def _tanh_f64(x):
    """``tanh(x)`` for a float64 ``x``, within 2 ulp (see the module's docstring)."""
    a = abs(x)
    s = x * x
    e = _exp_f64(2.0 * (a if a < 40.0 else 40.0))     # tanh(40) rounds to 1; NaN stays NaN
    small = a < 0.625
    # one division for both ranges: x s P(s) / Q(s) below 0.625, 2 / (exp(2 |x|) + 1) above
    numerator = x * s * ((_P0 * s + _P1) * s + _P2) if small else 2.0
    denominator = ((s + _Q1) * s + _Q2) * s + _Q3 if small else e + 1.0
    q = numerator / denominator
    large = 1.0 - q
    large = large if x > 0 else -large
    result = (x + q if a != 0.0 else x) if small else large     # tanh(-0) = -0 (x + q gives +0)
    return result if x == x else x




# fdlibm's e_log.c: log(1 + f) = f - f**2 / 2 + s (f**2 / 2 + R(s**2)), s = f / (2 + f), R a minimax polynomial
_LG1, _LG2, _LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
_LG4, _LG5, _LG6 = 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_TWO54 = 18014398509481984.0
_TINY = 2.2250738585072014e-308             # the smallest normal float64


@_body
def _log_f64(x):
    """``log(x)`` for a float64 ``x``, within 1 ulp (see the module's docstring)."""
    subnormal = x < _TINY
    bits = _float64_bits(x * _TWO54 if subnormal else x)
    high = bits >> 32
    k = ((high >> 20) & 0x7ff) - 1023 - (54 if subnormal else 0)
    high = high & 0x000fffff
    i = (high + 0x95f64) & 0x100000                  # the mantissa is above sqrt(2): halve it, k + 1
    m = _bits_to_float64(((high | (i ^ 0x3ff00000)) << 32) | (bits & 0xffffffff))
    k = k + (i >> 20)
    f = m - 1.0                                      # m in [sqrt(2) / 2, sqrt(2))
    s = f / (2.0 + f)
    dk = np.float64(k)
    z = s * s
    w = z * z
    r = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    half = 0.5 * f * f
    result = dk * _LN2_HI - ((half - (s * (half + r) + dk * _LN2_LO)) - f)
    result = result if x < np.inf else x             # log(inf) = inf
    result = result if x > 0.0 else (-np.inf if x == 0.0 else np.nan)
    return result if x == x else x


@_body
def _log1p_f64(x):
    """``log1p(x)`` for a float64 ``x``, within 2 ulp: ``log(u) + (x - (u - 1)) / u`` with ``u = 1 + x`` rounded
    (the quotient restores what the rounding of u lost)."""
    u = 1.0 + x
    result = _log_f64(u) + (x - (u - 1.0)) / u
    result = result if u < np.inf else u             # large x and inf: log(u) alone
    result = result if x != 0.0 else x               # log1p(-0) = -0
    result = result if x > -1.0 else (-np.inf if x == -1.0 else np.nan)
    return result if x == x else x




# ------------------------------------------------------------------ float32: Cephes' single-precision algorithms
# Every constant is a float32 (a Python float would widen the arithmetic to float64 and halve the vector width).
_f = np.float32
_LOG2E_32, _ROUND_32 = _f(1.44269504088896341), _f(12582912.0)          # 1.5 * 2**23: rounds to an integer
_LN2_HI_32, _LN2_LO_32 = _f(0.693359375), _f(-2.12194440e-4)            # k * _LN2_HI_32 is exact for |k| < 2**15
_EXP_P0, _EXP_P1, _EXP_P2 = _f(1.9875691500e-4), _f(1.3981999507e-3), _f(8.3334519073e-3)
_EXP_P3, _EXP_P4, _EXP_P5 = _f(4.1665795894e-2), _f(1.6666665459e-1), _f(5.0000001201e-1)
_ONE_32, _TWO_32, _HALF_32, _ZERO_32 = _f(1.0), _f(2.0), _f(0.5), _f(0.0)
_INF_32, _NAN_32 = _f(np.inf), _f(np.nan)
_EXP_CLAMP_LOW, _EXP_CLAMP_HIGH = _f(-104.0), _f(89.0)       # exp below: 0, above: inf (by the arithmetic itself)


@_body
def _exp_f32(x):
    """``exp(x)`` for a float32 ``x``, within 1 ulp of float32 (see the module's docstring)."""
    clamped = x if x > _EXP_CLAMP_LOW else _EXP_CLAMP_LOW      # NaN -> -104 here; the select below returns NaN
    clamped = clamped if clamped < _EXP_CLAMP_HIGH else _EXP_CLAMP_HIGH
    k = (clamped * _LOG2E_32 + _ROUND_32) - _ROUND_32
    r = (clamped - k * _LN2_HI_32) - k * _LN2_LO_32
    r2 = r * r
    q = ((((_EXP_P0 * r + _EXP_P1) * r + _EXP_P2) * r + _EXP_P3) * r + _EXP_P4) * r + _EXP_P5
    p = _ONE_32 + (r + r2 * q)
    n = np.int32(k)
    half = n >> np.int32(1)
    # 2**k in two factors, each a normal float32 for k in [-150, 128]: a subnormal result is rounded once, and
    # past the thresholds the product itself overflows to inf or rounds to 0
    scaled = p * _bits_to_float32((n - half + np.int32(127)) << np.int32(23))
    scaled = scaled * _bits_to_float32((half + np.int32(127)) << np.int32(23))
    return scaled if x == x else x


_EXPM1_LOW_32 = _f(-18.0)                    # below: -1 in float32


@_body
def _expm1_f32(x):
    """``expm1(x)`` for a float32 ``x``, within 2 ulp of float32: exp_f32's reduction and polynomial without
    the 1, then ``2**k expm1(r) + (2**k - 1)`` (exact for ``k <= 24``; beyond, ``2**k (1 + expm1(r))``)."""
    clamped = x if x > _EXPM1_LOW_32 else _EXPM1_LOW_32
    clamped = clamped if clamped < _EXP_CLAMP_HIGH else _EXP_CLAMP_HIGH
    k = (clamped * _LOG2E_32 + _ROUND_32) - _ROUND_32
    r = (clamped - k * _LN2_HI_32) - k * _LN2_LO_32
    r2 = r * r
    q = ((((_EXP_P0 * r + _EXP_P1) * r + _EXP_P2) * r + _EXP_P3) * r + _EXP_P4) * r + _EXP_P5
    e = r + r2 * q
    n = np.int32(k)
    small = n < np.int32(25)
    two_k = _bits_to_float32(((n if small else np.int32(0)) + np.int32(127)) << np.int32(23))
    middle = two_k * e + (two_k - _ONE_32)
    half = n >> np.int32(1)
    large = (_ONE_32 + e) * _bits_to_float32((n - half + np.int32(127)) << np.int32(23))
    large = large * _bits_to_float32((half + np.int32(127)) << np.int32(23))    # past 88.72: inf
    result = middle if small else large
    result = result if x > _EXPM1_LOW_32 else -_ONE_32
    result = result if x != _ZERO_32 else x
    return result if x == x else x


# Cephes tanhf.c: tanh(x) = x + x**3 P(x**2) for |x| < 0.625 (no division), 1 - 2 / (exp(2 |x|) + 1) above
_TANH_P0, _TANH_P1, _TANH_P2 = _f(-5.70498872745e-3), _f(2.06390887954e-2), _f(-5.37397155531e-2)
_TANH_P3, _TANH_P4 = _f(1.33314422036e-1), _f(-3.33332819422e-1)
_TANH_SMALL, _TANH_CLAMP = _f(0.625), _f(20.0)                # tanh(20) rounds to 1 in float32


@_body
def _tanh_f32(x):
    """``tanh(x)`` for a float32 ``x``, within 2 ulp of float32 (see the module's docstring)."""
    a = abs(x)
    s = x * x
    polynomial = x + x * s * ((((_TANH_P0 * s + _TANH_P1) * s + _TANH_P2) * s + _TANH_P3) * s + _TANH_P4)
    e = _exp_f32(_TWO_32 * (a if a < _TANH_CLAMP else _TANH_CLAMP))
    large = _ONE_32 - _TWO_32 / (e + _ONE_32)
    large = large if x > _ZERO_32 else -large
    result = (polynomial if a != _ZERO_32 else x) if a < _TANH_SMALL else large   # tanh(-0) = -0
    return result if x == x else x


# Cephes logf.c: log(1 + f) = f - f**2 / 2 + f**3 P(f) for the mantissa m = 1 + f in [sqrt(2) / 2, sqrt(2))
_LOG_P = tuple(_f(c) for c in (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
                                1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
                                3.3333331174e-1))
_LOG_P0, _LOG_P1, _LOG_P2, _LOG_P3, _LOG_P4, _LOG_P5, _LOG_P6, _LOG_P7, _LOG_P8 = _LOG_P
_TWO25_32 = _f(33554432.0)
_TINY_32 = _f(1.17549435e-38)                   # the smallest normal float32
_SQRT_HALF_32 = _f(0.707106781186547524)


@_body
def _log_f32(x):
    """``log(x)`` for a float32 ``x``, within 1 ulp of float32 (see the module's docstring)."""
    subnormal = x < _TINY_32
    bits = _float32_bits(x * _TWO25_32 if subnormal else x)
    e = ((bits >> np.int32(23)) & np.int32(0xff)) - np.int32(126) - (np.int32(25) if subnormal else np.int32(0))
    m = _bits_to_float32((bits & np.int32(0x007fffff)) | np.int32(0x3f000000))     # in [0.5, 1)
    below = m < _SQRT_HALF_32
    e = e - (np.int32(1) if below else np.int32(0))
    f = (m + m if below else m) - _ONE_32                       # in [sqrt(2) / 2 - 1, sqrt(2) - 1)
    z = f * f
    y = ((((((((_LOG_P0 * f + _LOG_P1) * f + _LOG_P2) * f + _LOG_P3) * f + _LOG_P4) * f + _LOG_P5) * f
           + _LOG_P6) * f + _LOG_P7) * f + _LOG_P8) * f * z
    de = np.float32(e)
    y = y + de * _LN2_LO_32
    y = y - _HALF_32 * z
    result = (f + y) + de * _LN2_HI_32
    result = result if x < _INF_32 else x                       # log(inf) = inf
    result = result if x > _ZERO_32 else (-_INF_32 if x == _ZERO_32 else _NAN_32)
    return result if x == x else x


@_body
def _log1p_f32(x):
    """``log1p(x)`` for a float32 ``x``, within 2 ulp of float32: ``log(u) + (x - (u - 1)) / u`` with
    ``u = 1 + x`` rounded."""
    u = _ONE_32 + x
    result = _log_f32(u) + (x - (u - _ONE_32)) / u
    result = result if u < _INF_32 else u
    result = result if x != _ZERO_32 else x
    result = result if x > -_ONE_32 else (-_INF_32 if x == -_ONE_32 else _NAN_32)
    return result if x == x else x



# ------------------------------------------------------------------ sin, cos, tan
#
# Argument reduction without branches or calls, exact for every finite float64: x = (k + f) pi / 2 with k an
# integer (its value mod 4, the quadrant) and |f| <= 1/2, then sin and cos of r = f pi / 2 (|r| <= pi / 4)
# by fdlibm's kernels, r carried as two doubles. For |x| >= pi / 4, y = |x| 2 / pi mod 4 is computed in
# integers (Payne and Hanek's method): |x| = M 2**E (M a 53-bit integer), and the 192 bits of 2 / pi that
# matter for y mod 4 at exponent E (those of weight 2**-(E + 190) to 2**(1 - E)) come from a table row per
# E; the low 192 bits of M times that row are y mod 4 in units of 2**-190, the rows' truncation at most
# 2**-137 of y. Products of 32-bit halves (exact in uint64) and carries column by column vectorise; the row
# is a gather. The closest a float64 comes to a multiple of pi / 2 is about 2**-61 (K. C. Ng), and y is
# exact to 2**-137, so r keeps its full precision there too.

#: floor(2 / pi * 2**1300): 2 / pi's first 1300 bits (its digits; the test checks them against mpmath)
_TWO_OVER_PI_BITS = int(
    "a2f9836e4e441529fc2757d1f534ddc0db6295993c439041fe5163abdebbc561b7246e3a424dd2e006492eea09d1921cfe1d"
    "eb1cb129a73ee88235f52ebb4484e99c7026b45f7e413991d639835339f49c845f8bbdf9283b1ff897ffde05980fef2f118b"
    "5a0a6d1f6d367ecf27cb09b74f463f669e5fea2d7527bac7ebe5f17b3d0739f78a5292ea6bfb5fb11f8d5d0856033046fc7b"
    "6babf0cfbc209af4361da9e39", 16)
_ROW_E0 = -53                         # the row of exponent E is E - _ROW_E0: E from -53 (|x| >= pi / 4) to 971


def _reduction_table():
    """floor(2 / pi * 2**(E + 190)) mod 2**192 per exponent E, as three 64-bit words, most significant first
    (three gathers per element instead of six: gathers are slow on some CPUs, AMD's Zen 4 among them)."""
    rows = []
    for e in range(_ROW_E0, 972):
        window = (_TWO_OVER_PI_BITS >> (1110 - e)) & ((1 << 192) - 1)
        rows.extend((window >> (64 * k)) & 0xFFFFFFFFFFFFFFFF for k in range(2, -1, -1))
    return np.array(rows, dtype=np.uint64)


_TRIG_TABLE = _reduction_table()
_LAST_ROW = np.int64(971 - _ROW_E0)
_U32 = np.uint64(0xFFFFFFFF)
_U30 = np.uint64(0x3FFFFFFF)
_SHIFT2, _SHIFT30, _SHIFT32, _SHIFT34 = np.uint64(2), np.uint64(30), np.uint64(32), np.uint64(34)
_HALF_BIT = np.uint64(1 << 29)        # 2**189 in the top word: rounds y to the nearest integer
_SIGN_BIT = np.uint64(1 << 63)
_MANTISSA = np.int64((1 << 52) - 1)
_IMPLICIT = np.int64(1 << 52)
_PIO4 = 0.7853981633974483
_PIO2_HI = 1.5707963267948966         # pi / 2 = _PIO2_HI + _PIO2_LO to 2**-106
_PIO2_LO = 6.123233995736766e-17
_SPLIT = 134217729.0                  # 2**27 + 1: Veltkamp's split of a double into two 26-bit halves
_TWO_M64 = 5.421010862427522e-20      # 2**-64
# fdlibm's kernels (FreeBSD k_sin.c and k_cos.c): sin(x + y) and cos(x + y) for |x + y| <= pi / 4 within 1 ulp
_S1, _S2C, _S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
_S4, _S5, _S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
_K1, _K2, _K3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
_K4, _K5, _K6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11


@_body
def _two_product(a, b):
    """(p, e) with p = fl(a b) and p + e = a b exactly: a fused multiply-add where the machine has one, else
    Dekker's product with Veltkamp's split."""
    p = a * b
    if _HAS_FMA:
        return p, _fma(a, b, -p)
    ca = _SPLIT * a
    ah = ca - (ca - a)
    al = a - ah
    cb = _SPLIT * b
    bh = cb - (cb - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


@_body
def _reduce_large(a):
    """(quadrant, r_hi, r_lo) for a finite ``a >= pi / 4``: a = (4 n + quadrant) pi / 2 + r_hi + r_lo exactly
    to 2**-137 of a's multiple, |r_hi + r_lo| <= pi / 4 (see above)."""
    bits = _float64_bits(a)
    exponent = (bits >> 52) - 1075                  # a = mantissa * 2**exponent
    row = exponent - _ROW_E0
    row = row if row < _LAST_ROW else _LAST_ROW     # inf and NaN (their result is replaced by NaN)
    row = row if row > 0 else np.int64(0)
    mantissa = np.uint64((bits & _MANTISSA) | _IMPLICIT)
    m0 = mantissa & _U32
    m1 = mantissa >> _SHIFT32
    base = 3 * row
    top_words = _TRIG_TABLE[base]
    middle_words = _TRIG_TABLE[base + 1]
    low_words = _TRIG_TABLE[base + 2]
    w5, w4 = top_words >> _SHIFT32, top_words & _U32       # 32-bit words: a product of two is one vpmuludq
    w3, w2 = middle_words >> _SHIFT32, middle_words & _U32
    w1, w0 = low_words >> _SHIFT32, low_words & _U32
    # the low 192 bits of (m1 2**32 + m0)(w5 2**160 + ... + w0), 32-bit column by column with carries
    p00, p01, p02, p03, p04, p05 = m0 * w0, m0 * w1, m0 * w2, m0 * w3, m0 * w4, m0 * w5
    p10, p11, p12, p13, p14 = m1 * w0, m1 * w1, m1 * w2, m1 * w3, m1 * w4
    c = (p00 >> _SHIFT32) + (p01 & _U32) + (p10 & _U32)
    d1 = c & _U32
    c = (c >> _SHIFT32) + (p01 >> _SHIFT32) + (p10 >> _SHIFT32) + (p02 & _U32) + (p11 & _U32)
    d2 = c & _U32
    c = (c >> _SHIFT32) + (p02 >> _SHIFT32) + (p11 >> _SHIFT32) + (p03 & _U32) + (p12 & _U32)
    d3 = c & _U32
    c = (c >> _SHIFT32) + (p03 >> _SHIFT32) + (p12 >> _SHIFT32) + (p04 & _U32) + (p13 & _U32)
    d4 = c & _U32
    c = (c >> _SHIFT32) + (p04 >> _SHIFT32) + (p13 >> _SHIFT32) + (p05 & _U32) + (p14 & _U32)
    d5 = (c + _HALF_BIT) & _U32                    # y + 1/2: its top two bits are round(y) mod 4
    quadrant = np.int64(d5 >> _SHIFT30)
    # y - round(y) in units of 2**-190 (signed), its bits 126-189 and 62-125
    top = ((d5 & _U30) << _SHIFT34) | (d4 << _SHIFT2) | (d3 >> _SHIFT30)
    middle = ((d3 & _U30) << _SHIFT34) | (d2 << _SHIFT2) | (d1 >> _SHIFT30)
    high = np.int64(top ^ _SIGN_BIT)               # top - 2**63: undoes the 1/2 added above
    # (y - round(y)) 2**64 = high + middle 2**-64 as the double-double (h, l)
    upper = np.float64(high >> np.int64(11)) * 2048.0          # exact: 53 bits
    lower = np.float64(high & np.int64(2047))                   # exact: 11 bits
    s = upper + lower
    v = s - upper
    e = (upper - (s - v)) + (lower - v)
    e = e + np.float64(middle) * _TWO_M64
    h = s + e
    l = e - (h - s)
    h = h * _TWO_M64
    l = l * _TWO_M64
    # r = (h + l) pi / 2
    r, r_error = _two_product(h, _PIO2_HI)
    r_error = r_error + (h * _PIO2_LO + l * _PIO2_HI)
    r_hi = r + r_error
    r_lo = r_error - (r_hi - r)
    return quadrant, r_hi, r_lo


@_body
def _reduce(x):
    """(quadrant, r_hi, r_lo) for |x|: itself below pi / 4, else ``_reduce_large``."""
    a = abs(x)
    quadrant, r_hi, r_lo = _reduce_large(a)
    small = a < _PIO4
    return (np.int64(0) if small else quadrant), (a if small else r_hi), (0.0 if small else r_lo)


@_body
def _sin_kernel(x, y):
    """sin(x + y) for |x + y| <= pi / 4, |y| <= ulp(x) / 2 (FreeBSD's __kernel_sin)."""
    z = x * x
    w = z * z
    r = _S2C + z * (_S3 + z * _S4) + z * w * (_S5 + z * _S6)
    v = z * x
    return x - ((z * (0.5 * y - v * r) - y) - v * _S1)


@_body
def _cos_kernel(x, y):
    """cos(x + y) for |x + y| <= pi / 4, |y| <= ulp(x) / 2 (FreeBSD's __kernel_cos)."""
    z = x * x
    w = z * z
    r = z * (_K1 + z * (_K2 + z * _K3)) + w * w * (_K4 + z * (_K5 + z * _K6))
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + (z * r - x * y))


@_body
def _sin_f64(x):
    """``sin(x)`` for a float64 ``x``, within 1 ulp (see the module's docstring)."""
    quadrant, r_hi, r_lo = _reduce(x)
    s = _sin_kernel(r_hi, r_lo)
    c = _cos_kernel(r_hi, r_lo)
    result = s if (quadrant & 1) == 0 else c
    result = result if (quadrant & 2) == 0 else -result
    result = -result if _float64_bits(x) < 0 else result        # sin is odd (sin(-0) = -0)
    return result if abs(x) < np.inf else x - x                  # inf and NaN: NaN


@_body
def _cos_f64(x):
    """``cos(x)`` for a float64 ``x``, within 1 ulp (see the module's docstring)."""
    quadrant, r_hi, r_lo = _reduce(x)
    s = _sin_kernel(r_hi, r_lo)
    c = _cos_kernel(r_hi, r_lo)
    result = c if (quadrant & 1) == 0 else s
    result = result if ((quadrant + 1) & 2) == 0 else -result   # quadrants 1 and 2 negative
    return result if abs(x) < np.inf else x - x


@_body
def _tan_f64(x):
    """``tan(x)`` for a float64 ``x``, within 3 ulp (see the module's docstring): sin(r) / cos(r), or
    -cos(r) / sin(r) in odd quadrants."""
    quadrant, r_hi, r_lo = _reduce(x)
    s = _sin_kernel(r_hi, r_lo)
    c = _cos_kernel(r_hi, r_lo)
    even = (quadrant & 1) == 0
    result = (s if even else -c) / (c if even else s)
    result = -result if _float64_bits(x) < 0 else result        # tan is odd
    return result if abs(x) < np.inf else x - x


# float32: a float32 has 24 significant bits, so 96 bits of 2 / pi per exponent are enough (three products
# of 32-bit words, two gathers) and r = (y - round(y)) pi / 2 is one double: the kernels in float64, rounded once.

def _reduction_table_f32():
    """floor(2 / pi * 2**(E + 94)) mod 2**96 per exponent E of a float32 ``M 2**E`` (M of 24 bits, |x| >= pi / 4):
    its top 64 bits and its low 32 bits."""
    rows = []
    for e in range(_ROW_E0_F32, 105):
        window = (_TWO_OVER_PI_BITS >> (1206 - e)) & ((1 << 96) - 1)
        rows.extend((window >> 32, window & 0xFFFFFFFF))
    return np.array(rows, dtype=np.uint64)


_ROW_E0_F32 = -24
_TRIG_TABLE_F32 = _reduction_table_f32()
_LAST_ROW_F32 = np.int64(104 - _ROW_E0_F32)
_SHIFT29 = np.uint64(29)
_U30_LOW = 1.0 / (1 << 30)


@_body
def _reduce_f32(x):
    """(quadrant, r) for a float32 ``x`` (as float64): |x| = (4 n + quadrant) pi / 2 + r, |r| <= pi / 4, r to
    2**-60 of |x|'s distance from a multiple (exact integer reduction, as for float64)."""
    a = abs(x)
    bits = _float64_bits(a)
    exponent = (bits >> 52) - 1075 + 29                 # a = mantissa24 * 2**exponent
    row = exponent - _ROW_E0_F32
    row = row if row < _LAST_ROW_F32 else _LAST_ROW_F32
    row = row if row > 0 else np.int64(0)
    mantissa = np.uint64(((bits & _MANTISSA) | _IMPLICIT) >> 29)
    top_words = _TRIG_TABLE_F32[2 * row]
    w0 = _TRIG_TABLE_F32[2 * row + 1]
    w2, w1 = top_words >> _SHIFT32, top_words & _U32
    p0, p1, p2 = mantissa * w0, mantissa * w1, mantissa * w2
    d0 = p0 & _U32
    c = (p0 >> _SHIFT32) + (p1 & _U32)
    d1 = c & _U32
    d2 = ((c >> _SHIFT32) + (p1 >> _SHIFT32) + p2 + _HALF_BIT) & _U32     # + 2**93: rounds y
    quadrant = np.int64(d2 >> _SHIFT30)
    top = ((d2 & _U30) << _SHIFT34) | (d1 << _SHIFT2) | (d0 >> _SHIFT30)   # bits 30-93 of y - round(y) + 1/2
    high = np.int64(top ^ _SIGN_BIT)
    f = (np.float64(high) + np.float64(d0 & _U30) * _U30_LOW) * _TWO_M64
    small = a < _PIO4
    return (np.int64(0) if small else quadrant), (a if small else f * _PIO2_HI)


@_body
def _sin_f32(x):
    """``sin(x)`` for a float32 ``x``, within 1 ulp of float32: its own 96-bit reduction, float64 kernels."""
    xd = np.float64(x)
    quadrant, r = _reduce_f32(xd)
    result = _sin_kernel(r, 0.0) if (quadrant & 1) == 0 else _cos_kernel(r, 0.0)
    result = result if (quadrant & 2) == 0 else -result
    result = -result if _float64_bits(xd) < 0 else result
    return np.float32(result if abs(xd) < np.inf else xd - xd)


@_body
def _cos_f32(x):
    """``cos(x)`` for a float32 ``x``, within 1 ulp of float32 (as ``sin_f32``)."""
    xd = np.float64(x)
    quadrant, r = _reduce_f32(xd)
    result = _cos_kernel(r, 0.0) if (quadrant & 1) == 0 else _sin_kernel(r, 0.0)
    result = result if ((quadrant + 1) & 2) == 0 else -result
    return np.float32(result if abs(xd) < np.inf else xd - xd)


@_body
def _tan_f32(x):
    """``tan(x)`` for a float32 ``x``, within 1 ulp of float32 (as ``sin_f32``)."""
    xd = np.float64(x)
    quadrant, r = _reduce_f32(xd)
    s = _sin_kernel(r, 0.0)
    c = _cos_kernel(r, 0.0)
    even = (quadrant & 1) == 0
    result = (s if even else -c) / (c if even else s)
    result = -result if _float64_bits(xd) < 0 else result
    return np.float32(result if abs(xd) < np.inf else xd - xd)


# ------------------------------------------------------------------ erf, erfc
#
# fdlibm's s_erf.c, each range computed and the one that applies selected (no branches): |x| < 0.84375,
# x + x R(x**2) (R rational); |x| < 1.25, erx + P(s) / Q(s) with s = |x| - 1; |x| < 6 (erf) or 28 (erfc),
# erfc(|x|) = exp(-z**2 - 0.5625) exp((z - |x|)(z + |x|) + R(1/x**2) / S(1/x**2)) / |x| (z: |x| with its low
# 32 bits cleared, so z**2 is exact), R and S from one of two coefficient sets (below 1 / 0.35 or above),
# chosen per element by selects before a single evaluation; beyond, the limits.

_ERX = 8.45062911510467529297e-01          # erf(1) rounded to 24 bits
_PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
       -5.77027029648944159157e-03, -2.37630166566501626084e-05)
_QQ = (3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
       1.32494738004321644526e-04, -3.96022827877536812320e-06)
_PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
       3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
       -2.16637559486879084300e-03)
_QA = (1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
       1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
_RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e+01,
       -6.23753324503260060396e+01, -1.62396669462573470355e+02, -1.84605092906711035994e+02,
       -8.12874355063065934246e+01, -9.81432934416914548592e+00)
_SA = (1.96512716674392571292e+01, 1.37657754143519042600e+02, 4.34565877475229228821e+02,
       6.45387271733267880336e+02, 4.29008140027567833386e+02, 1.08635005541779435134e+02,
       6.57024977031928170135e+00, -6.04244152148580987438e-02)
_RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e+01,
       -1.60636384855821916062e+02, -6.37566443368389627722e+02, -1.02509513161107724954e+03,
       -4.83519191608651397019e+02, 0.0)
_SB = (3.03380607434824582924e+01, 3.25792512996573918826e+02, 1.53672958608443695994e+03,
       3.19985821950859553908e+03, 2.55305040643316442583e+03, 4.74528541206955367215e+02,
       -2.24409524465858183362e+01, 0.0)
_HIGH_WORD = np.int64(-4294967296)          # ~0xffffffff: clears a float64's low 32 bits


@_body
def _erf_small(x):
    """x R(x**2) for |x| < 0.84375: erf(x) = x + x R(x**2)."""
    z = x * x
    r = _PP[0] + z * (_PP[1] + z * (_PP[2] + z * (_PP[3] + z * _PP[4])))
    s = 1.0 + z * (_QQ[0] + z * (_QQ[1] + z * (_QQ[2] + z * (_QQ[3] + z * _QQ[4]))))
    return x * (r / s)


@_body
def _erf_middle(a):
    """P(s) / Q(s), s = a - 1, for 0.84375 <= a < 1.25: erf(a) = erx + P / Q."""
    s = a - 1.0
    p = _PA[0] + s * (_PA[1] + s * (_PA[2] + s * (_PA[3] + s * (_PA[4] + s * (_PA[5] + s * _PA[6])))))
    q = 1.0 + s * (_QA[0] + s * (_QA[1] + s * (_QA[2] + s * (_QA[3] + s * (_QA[4] + s * _QA[5])))))
    return p / q


@_body
def _erfc_large(a):
    """erfc(a) for 1.25 <= a < 28 (a finite; other values give a finite or NaN number, selected away)."""
    s = 1.0 / (a * a)
    beyond = a >= 2.857142857142857        # 1 / 0.35: the second coefficient set
    r = (_RB[7] if beyond else _RA[7])
    r = (_RB[6] if beyond else _RA[6]) + s * r
    r = (_RB[5] if beyond else _RA[5]) + s * r
    r = (_RB[4] if beyond else _RA[4]) + s * r
    r = (_RB[3] if beyond else _RA[3]) + s * r
    r = (_RB[2] if beyond else _RA[2]) + s * r
    r = (_RB[1] if beyond else _RA[1]) + s * r
    r = (_RB[0] if beyond else _RA[0]) + s * r
    q = (_SB[7] if beyond else _SA[7])
    q = (_SB[6] if beyond else _SA[6]) + s * q
    q = (_SB[5] if beyond else _SA[5]) + s * q
    q = (_SB[4] if beyond else _SA[4]) + s * q
    q = (_SB[3] if beyond else _SA[3]) + s * q
    q = (_SB[2] if beyond else _SA[2]) + s * q
    q = (_SB[1] if beyond else _SA[1]) + s * q
    q = (_SB[0] if beyond else _SA[0]) + s * q
    q = 1.0 + s * q
    z = _bits_to_float64(_float64_bits(a) & _HIGH_WORD)
    return _exp_f64(-z * z - 0.5625) * _exp_f64((z - a) * (z + a) + r / q) / a


@_body
def _erf_f64(x):
    """``erf(x)`` for a float64 ``x``, within 1 ulp (see the module's docstring)."""
    a = abs(x)
    small = x + _erf_small(x)
    middle = _ERX + _erf_middle(a)
    large = 1.0 - _erfc_large(a)
    result = middle if a < 1.25 else (large if a < 6.0 else 1.0)
    result = -result if x < 0.0 else result
    result = small if a < 0.84375 else result
    return result if x == x else x


@_body
def _erfc_f64(x):
    """``erfc(x)`` for a float64 ``x``, within 4 ulp (see the module's docstring)."""
    a = abs(x)
    y = _erf_small(x)
    small = 1.0 - (x + y) if x < 0.25 else 0.5 - (y + (x - 0.5))
    p = _erf_middle(a)
    middle = (1.0 - _ERX) - p if x >= 0.0 else 1.0 + (_ERX + p)
    tail = _erfc_large(a)
    large = tail if x > 0.0 else 2.0 - tail
    large = large if a < 28.0 else (0.0 if x > 0.0 else 2.0)      # (x < -6 is 2 already)
    result = middle if a < 1.25 else large
    result = small if a < 0.84375 else result
    return result if x == x else x





# ------------------------------------------------------------------ pow
#
# |x|**y = exp(y log|x|) with log|x| and the product carried as two doubles, and an exp of such a pair whose
# only rounding worth counting is the last one: the result is within about 0.52 ulp, so a
# power that is exactly a double (2.0 ** 10, 0.5 ** 3, 9.0 ** 0.5) comes out exactly. log|x| = k ln 2 +
# log(c) + log1p(r): |x| = 2**k z with z in [0.7057, 1.4115), z in one of 128 intervals (the 7 bits of z's
# pattern after 0x3fe6955500000000), 1 / c per interval from the table (exactly 1 for the one holding 1, so
# log|x| is exact near 1), r = z / c - 1 exact as two doubles (|r| < 2**-7.6), log(c) to 2**-106 from the
# table (checked against mpmath by the tests), log1p(r) by its series to r**11. C99's (and NumPy's) special
# cases by selects: pow(x, ±0) = pow(1, y) = 1, negative x with an integer y (odd: negative), NaN otherwise,
# zeros, infinities.

#: per interval of z: 1 / c, and log(c) as two doubles (made with mpmath; tests/codegen/test_vpow.py checks them)
_POW_LOG_TABLE = np.array([
    1.4130637948355824, -0.3457602511868243, 2.0674141238389908e-17,
    1.4053068097826924, -0.3402556488985558, 1.8800099124090546e-17,
    1.397634523402517, -0.33478118145199626, 1.23327155583422e-17,
    1.390045555987865, -0.32933652069753083, 1.2931994053206738e-17,
    1.3825385576362084, -0.32392134381654897, 2.3514508867878777e-17,
    1.3751122074491977, -0.318535333206592, -3.244095488023442e-20,
    1.3677652127578397, -0.3131781763695764, -2.5725853287165294e-17,
    1.3604963083723818, -0.30784956580299655, -2.3662030367908506e-19,
    1.3533042558559885, -0.30254919889400983, -1.7108280803308434e-17,
    1.3461878428213334, -0.2972767778163141, -2.426027002172896e-17,
    1.33914588224927, -0.29203200942972973, 2.3111588314048314e-17,
    1.3321772118287747, -0.2868146051824014, 2.0742210915036133e-17,
    1.3252806933173915, -0.28162428101553677, -1.515699276626327e-17,
    1.3184552119214417, -0.27646075727060676, -1.463766595814074e-17,
    1.311699675695285, -0.27132375859892705, -1.5298920447383268e-17,
    1.3050130149589576, -0.26621301387355173, -5.688997469298136e-18,
    1.298394181733531, -0.26112825610340673, -4.225060633440991e-18,
    1.2918421491935659, -0.2560692223495944, -8.747077684632702e-18,
    1.285355911136063, -0.2510356536438055, 1.426841153295753e-17,
    1.2789344814653318, -0.24602729490877442, -8.385266674397635e-18,
    1.2725768936932214, -0.24104389488071537, -2.1751742657142603e-18,
    1.2662822004541863, -0.23608520603368247, -5.287300428058624e-18,
    1.2600494730346725, -0.23115098450579583, 8.839711718381448e-18,
    1.2538778009163347, -0.22624099002727938, -1.3791381509741305e-17,
    1.2477662913326095, -0.22135498585025518, -1.0196103290566055e-17,
    1.2417140688381962, -0.21649273868024602, 1.2840172731936177e-17,
    1.2357202748910059, -0.2116540186093352, -5.730180320994423e-18,
    1.2297840674461575, -0.20683859905093396, 9.941727150474121e-18,
    1.2239046205616246, -0.20204625667611462, -1.3366023391385444e-17,
    1.2180811240151364, -0.19727677135145974, 4.486073861360142e-18,
    1.2123127829319658, -0.19252992607838734, -2.4632130043095066e-18,
    1.2065988174232438, -0.1878055069339096, -1.1822916821819821e-17,
    1.200938462234454, -0.18310330301278444, 8.855878145054678e-19,
    1.1953309664037737, -0.1784231063710196, -3.6062755976726965e-20,
    1.1897755929299434, -0.17376471197069468, 6.049503333298862e-18,
    1.1842716184493547, -0.1691279176260602, -4.2512578553099735e-18,
    1.1788183329220603, -0.16451252395088276, -1.3427987237515135e-17,
    1.173415039326418, -0.15991833430699778, 9.71144040311337e-19,
    1.1680610533620954, -0.15534515475403968, 9.6581012290418e-18,
    1.1627557031611688, -0.15079279400031675, -7.071413358994367e-18,
    1.1574983290070577, -0.14626106335479774, 3.405404163417754e-18,
    1.1522882830610515, -0.14174977668018215, 1.3201951731578424e-17,
    1.1471249290961891, -0.1372587503470255, -5.422994668328649e-18,
    1.14200764223826, -0.1327878031888878, 2.2631990473724533e-18,
    1.1369358087137076, -0.12833675645848233, -3.2713602354491285e-18,
    1.1319088256042211, -0.1239054337847947, 2.9813075261541605e-18,
    1.1269261006078082, -0.1194936611311486, 3.052265245971415e-18,
    1.1219870518061505, -0.11510126675419181, 1.9879377450555897e-19,
    1.1170911074380518, -0.11072808116377984, 2.0109655330498833e-18,
    1.1122377056787898, -0.10637393708373204, -4.866746811540408e-18,
    1.1074262944251967, -0.10203866941343954, 4.055840953233139e-18,
    1.1026563310862927, -0.09772211519030014, 5.0599711732022425e-19,
    1.0979272823793087, -0.09342411355296279, 2.9636620790906327e-18,
    1.093238624130933, -0.08914450570535584, -8.32973152919575e-19,
    1.0885898410836317, -0.084883134881484, 3.135478462510763e-18,
    1.0839804267068869, -0.08063984631097083, -1.5232598921060458e-18,
    1.079409883013214, -0.07641448718533075, -1.8271038102440688e-18,
    1.0748777203788094, -0.07220690662494808, -3.036290643449988e-18,
    1.0703834573687012, -0.06801695564675017, -4.358386957264274e-19,
    1.0659266205662674, -0.06384448713255457, 4.044408987181281e-18,
    1.0615067444069939, -0.05968935579807261, 2.3558372976775723e-18,
    1.0571233710163528, -0.05555141816255522, -3.3484759397859595e-18,
    1.0527760500516812, -0.05143053251906447, 3.2972055622228303e-18,
    1.0484643385479446, -0.047326558905354456, 2.7229620837732184e-18,
    1.0441878007672756, -0.043239359075347414, -3.0560756987429374e-18,
    1.039946008052179, -0.03916879647119037, -1.2293969817913309e-18,
    1.0357385386823021, -0.03511473619587892, 3.2330526557658788e-18,
    1.0315649777346665, -0.031077044986432552, 1.7182200619587231e-18,
    1.0274249169472651, -0.02705559118760989, -1.611534296884488e-19,
    1.0233179545859328, -0.02305024472615082, -2.6387256366865352e-20,
    1.0192436953143946, -0.019060877085531225, -1.3872415786882673e-18,
    1.0152017500674089, -0.015087361281220948, 1.5952894186683233e-19,
    1.011191735926914, -0.011129571836429625, 7.514791770765074e-19,
    1.0072132760011008, -0.0071873847583313905, 9.814509164701418e-20,
    1.003265999306328, -0.003260677514757037, 1.3827896059603214e-19,
    1.0, 0.0, 0.0,
    0.9909680541104001, 0.009072981185463909, 1.755697471739135e-20,
    0.9833549808923171, 0.0167851040919329, -7.546737410012706e-19,
    0.9758579901481317, 0.024438205052878612, 5.846221059935516e-19,
    0.9684744469658976, 0.032033180617487826, -7.655804052433092e-19,
    0.9612017955799839, 0.03957090706082743, -2.6224879228866196e-19,
    0.9540375564215221, 0.047052240990565715, 2.3558672840961573e-18,
    0.9469793232997828, 0.05447801993116642, -6.548501962893001e-19,
    0.940024760707751, 0.061849062886551724, 3.371988720966802e-18,
    0.9331716012455625, 0.06916617088217868, -5.125927779877815e-18,
    0.9264176431558292, 0.07643012748742867, 1.4155438304954405e-18,
    0.9197607479652262, 0.08364169931915849, -3.858054452625978e-18,
    0.9131988382270334, 0.09080163652722545, 5.653775165037241e-18,
    0.9067298953596261, 0.09791067326275278, -1.764626099696709e-18,
    0.9003519575761895, 0.10496952812986872, 6.053697975036437e-18,
    0.8940631179011972, 0.11197890462161267, 5.066219866096489e-18,
    0.8878615222694416, 0.11893949154067018, 6.295054673862052e-18,
    0.881745367703634, 0.12585196340556626, 5.674978898058594e-18,
    0.8757129005668128, 0.1327169808429157, 6.024441552700381e-20,
    0.8697624148860018, 0.13953519096630054, 7.30101015349373e-18,
    0.8638922507437503, 0.14630722774231955, 1.3289246023120372e-17,
    0.858100792734373, 0.15303371234432478, 2.215528941235588e-18,
    0.8523864684818703, 0.15971525349434162, 4.924188350931158e-18,
    0.846747747216675, 0.166352447793641, -1.2604649172688696e-17,
    0.8411831384085182, 0.1729458800424139, 1.1700617736366156e-17,
    0.8356911904528505, 0.1794961235489752, 9.223868935558907e-18,
    0.8302704894083851, 0.18600374042890735, 6.80818804619657e-18,
    0.8249196577834595, 0.19246928189453236, 4.292656664481476e-18,
    0.8196373533690242, 0.19889328853508645, 7.006215683205439e-18,
    0.814422268116184, 0.20527629058795227, 5.29787738820141e-18,
    0.8092731270563194, 0.21161880820128998, 3.188251116036485e-18,
    0.804188687261915, 0.21792135168839183, 3.516228426653344e-18,
    0.7991677368463171, 0.22418442177407086, -2.2696766631849123e-18,
    0.7942090940007286, 0.23040850983338249, 1.9769786063675732e-18,
    0.7893116060668334, 0.2365940981229622, 1.5695351823131643e-18,
    0.7844741486435229, 0.2427416600052535, -1.0130383806276084e-17,
    0.7796956247262712, 0.24885166016588348, -1.9809037627102824e-19,
    0.774974963877772, 0.2549245548244399, -1.5584185154178509e-18,
    0.7703111214285242, 0.26096079193888544, -1.1170629991682194e-17,
    0.7657030777061097, 0.26696081140383987, -1.9428973019608025e-17,
    0.7611498372919693, 0.27292504524294914, -4.085714905933461e-18,
    0.7566504283045403, 0.2788539177955512, 1.498864391690178e-17,
    0.7522039017076696, 0.2847478458978414, 2.0276183059708408e-17,
    0.747809330643269, 0.2906072390587303, 9.494962373467606e-18,
    0.7434658097872289, 0.2964324996305784, 9.352584127180296e-18,
    0.7391724547276468, 0.30222402297498774, -4.274364792189372e-18,
    0.7349284013644778, 0.3079821976238195, 4.996233270186369e-19,
    0.7307328053297467, 0.3137074054356031, -2.63611709878879e-17,
    0.7265848414275092, 0.31940002174749155, -1.1294431182446286e-18,
    0.7224837030927779, 0.3250604155229182, -2.1876396737842017e-17,
    0.7184286018686696, 0.33068894949509725, 1.0700213331858606e-17,
    0.7144187669010644, 0.3362859803065071, -8.555839833154063e-19,
    0.7104534444500906, 0.34185185864449397, -1.0183189223435168e-17,
])
_POW_OFF = np.int64(0x3FE6955500000000)
_POW_INDEX_MASK = np.int64(127)
_EXPONENT_MASK = np.int64(-4503599627370496)     # 0xfff0000000000000
_TWO54 = 18014398509481984.0
_TINY_NORMAL = 2.2250738585072014e-308
# log1p(r) = r - r**2 / 2 + r**3 (1/3 - r/4 + ... - r**8 / 11)
_L3, _L4, _L5, _L6, _L7 = 1 / 3, -1 / 4, 1 / 5, -1 / 6, 1 / 7
_L8, _L9, _L10, _L11 = -1 / 8, 1 / 9, -1 / 10, 1 / 11


@_body
def _two_sum(a, b):
    """(s, e) with s = fl(a + b) and s + e = a + b exactly (Knuth)."""
    s = a + b
    v = s - a
    e = (a - (s - v)) + (b - v)
    return s, e


@_body
def _log_pair(a):
    """log(a) as (high, low) to about 2**-66 of it, for a finite ``a > 0`` (see above)."""
    subnormal = a < _TINY_NORMAL
    bits = _float64_bits(a * _TWO54 if subnormal else a)
    shifted = bits - _POW_OFF
    index = (shifted >> np.int64(45)) & _POW_INDEX_MASK
    k = np.float64((shifted >> np.int64(52)) - (np.int64(54) if subnormal else np.int64(0)))
    z = _bits_to_float64(bits - (shifted & _EXPONENT_MASK))
    inverse = _POW_LOG_TABLE[3 * index]
    log_high = _POW_LOG_TABLE[3 * index + 1]
    log_low = _POW_LOG_TABLE[3 * index + 2]
    p, p_error = _two_product(z, inverse)
    r_high, r_low = _two_sum(p - 1.0, p_error)            # p - 1 is exact (p is within 2**-7 of 1)
    q, q_error = _two_product(r_high, r_high)
    series = r_high * q * (_L3 + r_high * (_L4 + r_high * (_L5 + r_high * (_L6 + r_high * (
        _L7 + r_high * (_L8 + r_high * (_L9 + r_high * (_L10 + r_high * _L11))))))))
    s, e1 = _two_sum(k * _LN2_HI, log_high)
    s, e2 = _two_sum(s, r_high)
    s, e3 = _two_sum(s, -0.5 * q)
    low = (e1 + e2 + e3) + (k * _LN2_LO + log_low + r_low - 0.5 * q_error - r_high * r_low + series)
    high = s + low
    return high, low - (high - s)


@_body
def _exp_pair(high, low):
    """exp(high + low) rounded once at the end (the error before it about 2**-58 of the result), for
    ``|low| <= ulp(high)``; 0 or inf beyond the range, as the scaling by 2**k gives."""
    t = high if high > -1400.0 else -1400.0        # 2**k in two factors: each a normal double up to |k| = 2046
    t = t if t < 1400.0 else 1400.0
    k = (t * _LOG2E + _ROUND) - _ROUND
    a = t - k * _LN2_HI
    r_high, r_low = _two_sum(a, -(k * _LN2_LO))
    r_low = r_low + low                            # low may be far above ulp(r_high): renormalised
    r_sum = r_high + r_low
    r_low = r_low - (r_sum - r_high)
    r_high = r_sum
    q, q_error = _two_product(r_high, r_high)
    tail = r_high * q * (_C3 + r_high * (_C4 + r_high * (_C5 + r_high * (_C6 + r_high * (_C7 + r_high * (
        _C8 + r_high * (_C9 + r_high * (_C10 + r_high * (_C11 + r_high * (_C12 + r_high * _C13))))))))))
    s1 = 1.0 + r_high
    e1 = r_high - (s1 - 1.0)
    s2, e2 = _two_sum(s1, 0.5 * q)
    value = s2 + ((e1 + e2) + (r_low + 0.5 * q_error + r_high * r_low + tail))
    n = np.int64(k)
    half = n >> 1
    return value * _bits_to_float64((n - half + 1023) << 52) * _bits_to_float64((half + 1023) << 52)


@_body
def _pow_f64(x, y):
    """``x ** y`` for float64 ``x`` and ``y``, within 1 ulp, exact where the power is a double (see the
    module's docstring); C99's special cases, as NumPy."""
    a = abs(x)
    log_high, log_low = _log_pair(a if a > 0.0 else 1.0)
    t, t_error = _two_product(y, log_high)
    t_low = t_error + y * log_low
    # far out of range the sign of t decides; log|x| = 0 (x = -1) gives t = 0 whatever y (a y near the largest
    # double overflows Dekker's split: NaN, dropped)
    t_low = t_low if (abs(t) < 2000.0) & (log_high != 0.0) else 0.0
    result = _exp_pair(t, t_low)
    integer = np.floor(y) == y
    odd = integer & (np.floor(0.5 * y) != 0.5 * y)
    result = result if x >= 0.0 else ((-result if odd else result) if integer else np.nan)
    zero = (x if odd else 0.0) if y > 0.0 else ((1.0 / x) if odd else np.inf)     # pow(±0, y)
    result = zero if x == 0.0 else result
    infinite = (x if odd else np.inf) if y > 0.0 else ((-0.0 if x < 0.0 else 0.0) if odd else 0.0)  # pow(±inf, y)
    result = infinite if a == np.inf else result
    result = ((np.inf if (a < 1.0) == (y < 0.0) else 0.0) if a != 1.0 else 1.0) if abs(y) == np.inf else result
    result = result if (x == x) & (y == y) else np.nan
    return 1.0 if (y == 0.0) | (x == 1.0) else result




# ------------------------------------------------------------------ log2, log10, exp2
#
# pow's two-double logarithm and exp, with the constant carried as two doubles as well: nearly always
# correctly rounded, and exact where the result is a double (log2(8) = 3, log10(1000) = 3, exp2(-3) = 0.125).

_INV_LN2_HI, _INV_LN2_LO = 1.4426950408889634, 2.0355273740931033e-17
_INV_LN10_HI, _INV_LN10_LO = 0.4342944819032518, 1.098319650216765e-17
_LN2_PAIR_HI, _LN2_PAIR_LO = 0.6931471805599453, 2.3190468138462996e-17


@_body
def _log_scaled(x, scale_high, scale_low):
    """log(x) (scale_high + scale_low), rounded once; log's special values (x < 0: NaN, ±0: -inf, inf)."""
    high, low = _log_pair(x if x > 0.0 else 1.0)
    p, p_error = _two_product(high, scale_high)
    result = p + (p_error + (high * scale_low + low * scale_high))
    result = result if x < np.inf else x                             # log(inf) = inf, NaN stays NaN
    return result if x > 0.0 else (-np.inf if x == 0.0 else np.nan)


@_body
def _log2_f64(x):
    """``log2(x)`` for a float64 ``x``, within 1 ulp and exact at powers of two (see the module's docstring)."""
    return _log_scaled(x, _INV_LN2_HI, _INV_LN2_LO)


@_body
def _log10_f64(x):
    """``log10(x)`` for a float64 ``x``, within 1 ulp and exact at powers of ten (see the module's docstring)."""
    return _log_scaled(x, _INV_LN10_HI, _INV_LN10_LO)


@_body
def _exp2_f64(x):
    """``exp2(x)`` for a float64 ``x``, within 1 ulp and exact at integers (see the module's docstring)."""
    t, t_error = _two_product(x if abs(x) < 2000.0 else 2000.0 * np.sign(x), _LN2_PAIR_HI)
    result = _exp_pair(t, t_error + x * _LN2_PAIR_LO if abs(x) < 2000.0 else 0.0)
    return result if x == x else x






# ------------------------------------------------------------------ sinh, cosh
#
# fdlibm's ranges, each computed and the right one selected: expm1 near 0 (no cancellation), exp below 22,
# and exp(|x| - ln 2) as pow's exp of a pair above (cosh and sinh overflow only past 710.4758600739439).


@_body
def _half_exp(a):
    """exp(a) / 2 = exp(a - ln 2) for 0 <= a, rounded once (pow's exp of a pair: finite up to 710.4758...)."""
    b = a if a < 1000.0 else 1000.0
    high, low = _two_sum(b, -_LN2_PAIR_HI)
    return _exp_pair(high, low - _LN2_PAIR_LO)


@_body
def _sinh_f64(x):
    """``sinh(x)`` for a float64 ``x``, within 3 ulp (see the module's docstring)."""
    a = abs(x)
    t = _expm1_f64(a if a < 22.0 else 22.0)
    small = 0.5 * (2.0 * t - t * t / (t + 1.0))       # below 1
    middle = 0.5 * (t + t / (t + 1.0))                # below 22
    large = _half_exp(a)
    result = small if a < 1.0 else (middle if a < 22.0 else large)
    result = -result if _float64_bits(x) < 0 else result          # sinh is odd (sinh(-0) = -0)
    return result if x == x else x


@_body
def _cosh_f64(x):
    """``cosh(x)`` for a float64 ``x``, within 2 ulp (see the module's docstring)."""
    a = abs(x)
    t = _expm1_f64(a if a < 0.5 else 0.5)
    small = 1.0 + (t * t) / (2.0 * (1.0 + t))         # below ln 2 / 2
    e = _exp_f64(a if a < 22.0 else 22.0)
    middle = 0.5 * e + 0.5 / e                         # below 22
    large = _half_exp(a)
    result = small if a < 0.34657359027997264 else (middle if a < 22.0 else large)
    return result if x == x else x




# ---------------------------------------------------------------- arctan, arctan2
#
# fdlibm's atan: |x| in five ranges, each reduced to a small argument t by one division (the ranges' numerators
# and denominators chosen by selects), atan(t) by an odd polynomial, plus atan of the range's point carried
# as two doubles. atan2: atan(|y / x|) placed in its quadrant, with fdlibm's (C99's) special cases by selects.

_ATAN_HI = (4.63647609000806093515e-01, 7.85398163397448278999e-01, 9.82793723247329054082e-01,
            1.57079632679489655800e+00)      # atan(0.5), atan(1), atan(1.5), atan(inf), high parts
_ATAN_LO = (2.26987774529616870924e-17, 3.06161699786838301793e-17, 1.39033110312309984516e-17,
            6.12323399573676603587e-17)
_AT = (3.33333333333329318027e-01, -1.99999999998764832476e-01, 1.42857142725034663711e-01,
       -1.11111104054623557880e-01, 9.09088713343650656196e-02, -7.69187620504482999495e-02,
       6.66107313738753120669e-02, -5.83357013379057348645e-02, 4.97687799461593236017e-02,
       -3.65315727442169155270e-02, 1.62858201153657823623e-02)
_PI = 3.1415926535897931160e+00
_PI_LO = 1.2246467991473531772e-16            # pi - _PI
_PI_O_2 = 1.5707963267948965580e+00
_PI_O_4 = 7.8539816339744827900e-01


@_body
def _atan_abs(a):
    """``atan(a)`` for ``a >= 0`` (NaN for NaN), fdlibm's ranges [0, 7/16), [7/16, 11/16), [11/16, 19/16),
    [19/16, 39/16) and above, by selects."""
    r0 = a < 0.4375
    r1 = a < 0.6875
    r2 = a < 1.1875
    r3 = a < 2.4375
    numerator = a if r0 else (2.0 * a - 1.0 if r1 else (a - 1.0 if r2 else (a - 1.5 if r3 else -1.0)))
    denominator = 1.0 if r0 else (2.0 + a if r1 else (a + 1.0 if r2 else (1.0 + 1.5 * a if r3 else a)))
    t = numerator / denominator
    high = _ATAN_HI[0] if r1 else (_ATAN_HI[1] if r2 else (_ATAN_HI[2] if r3 else _ATAN_HI[3]))
    low = _ATAN_LO[0] if r1 else (_ATAN_LO[1] if r2 else (_ATAN_LO[2] if r3 else _ATAN_LO[3]))
    z = t * t
    w = z * z
    s1 = z * (_AT[0] + w * (_AT[2] + w * (_AT[4] + w * (_AT[6] + w * (_AT[8] + w * _AT[10])))))
    s2 = w * (_AT[1] + w * (_AT[3] + w * (_AT[5] + w * (_AT[7] + w * _AT[9]))))
    small = t - t * (s1 + s2)
    reduced = high - ((t * (s1 + s2) - low) - t)
    return small if r0 else reduced


@_body
def _arctan_f64(x):
    """``arctan(x)`` for a float64 ``x``, within 1 ulp (see the module's docstring)."""
    r = _atan_abs(abs(x))
    r = -r if _float64_bits(x) < 0 else r             # atan is odd (atan(-0) = -0)
    return r if x == x else x


@_body
def _arctan2_f64(y, x):
    """``arctan2(y, x)`` for float64 values, within 2 ulp (see the module's docstring)."""
    ax = abs(x)
    ay = abs(y)
    x_negative = _float64_bits(x) < 0
    z = _atan_abs(ay / ax)
    # the exponent difference, as fdlibm reads it from the high words: past 60, |y / x| is pi / 2 whatever the
    # sign of x; below -60 with x < 0, the angle is pi
    k = ((_float64_bits(ay) >> 32) - (_float64_bits(ax) >> 32)) >> 20
    z = 0.0 if x_negative and k < -60 else z
    z = _PI_O_2 + 0.5 * _PI_LO if k > 60 else z
    r = _PI - (z - _PI_LO) if x_negative and k <= 60 else z
    # C99's special cases: zeros and infinities
    y_inf = ay == np.inf
    x_inf = ax == np.inf
    r = (_PI if x_negative else 0.0) if y == 0.0 else r
    r = _PI_O_2 if x == 0.0 and y != 0.0 else r
    r = ((3.0 * _PI_O_4 if x_negative else _PI_O_4) if x_inf else _PI_O_2) if y_inf else r
    r = -r if _float64_bits(y) < 0 else r
    return r if x == x and y == y else x + y


# ---------------------------------------------------------------- arcsin, arccos
#
# fdlibm's: below 0.5, a rational approximation in x**2; above, in t = (1 - |x|) / 2 with sqrt(t) carried as a
# head of 26 bits and a correction. One polynomial pair serves both (its argument chosen by a select).

_PS = (1.66666666666666657415e-01, -3.25565818622400915405e-01, 2.01212532134862925881e-01,
       -4.00555345006794114027e-02, 7.91534994289814532176e-04, 3.47933107596021167570e-05)
_QS = (-2.40339491173441421878e+00, 2.02094576023350569471e+00, -6.88283971605453293030e-01,
       7.70381505559019352791e-02)
_PIO2_LO = 6.12323399573676603587e-17          # pi / 2 - _PI_O_2
_ASIN_STEEP = np.int64(0x3FEF3333)           # the high word of 0.975: above, asin's last range


@_body
def _asin_ratio(t):
    """fdlibm's ``P(t) / Q(t)`` of asin and acos."""
    p = t * (_PS[0] + t * (_PS[1] + t * (_PS[2] + t * (_PS[3] + t * (_PS[4] + t * _PS[5])))))
    q = 1.0 + t * (_QS[0] + t * (_QS[1] + t * (_QS[2] + t * _QS[3])))
    return p / q


@_body
def _arcsin_f64(x):
    """``arcsin(x)`` for a float64 ``x``, within 1 ulp (see the module's docstring)."""
    a = abs(x)
    small = a < 0.5
    t = a * a if small else (1.0 - a) * 0.5         # NaN past 1 (sqrt of a negative number below)
    r = _asin_ratio(t)
    near_zero = a + a * r
    s = np.sqrt(t)
    steep = _PI_O_2 - (2.0 * (s + s * r) - _PIO2_LO)
    head = _bits_to_float64(_float64_bits(s) & _HIGH_WORD)
    c = (t - head * head) / (s + head)
    middle = _PI_O_4 - ((2.0 * s * r - (_PIO2_LO - 2.0 * c)) - (_PI_O_4 - 2.0 * head))
    result = near_zero if small else (steep if (_float64_bits(a) >> 32) >= _ASIN_STEEP else middle)
    result = -result if _float64_bits(x) < 0 else result      # asin is odd (asin(-0) = -0)
    return result if x == x else x


@_body
def _arccos_f64(x):
    """``arccos(x)`` for a float64 ``x``, within 1 ulp (see the module's docstring)."""
    a = abs(x)
    small = a < 0.5
    z = x * x if small else (1.0 - a) * 0.5
    r = _asin_ratio(z)
    s = np.sqrt(z)
    middle = _PI_O_2 - (x - (_PIO2_LO - x * r))
    negative = _PI - 2.0 * (s + (r * s - _PIO2_LO))
    head = _bits_to_float64(_float64_bits(s) & _HIGH_WORD)
    c = (z - head * head) / (s + head)
    positive = 2.0 * (head + (r * s + c))
    result = middle if small else (negative if x < 0.0 else positive)
    result = (_PI if x < 0.0 else 0.0) if a == 1.0 else result
    return result if x == x else x


# ---------------------------------------------------------------- arcsinh, arccosh, arctanh
#
# fdlibm's formulas, the argument of each range chosen by selects and one log1p for all (log(u) is
# log1p(u - 1), exact for 2 <= u < 2**53; above 2**28 fdlibm's log(|x|) + ln 2).

_LN2 = 6.93147180559945286227e-01
_TWO28 = 268435456.0
_TWO_M28 = 3.725290298461914e-09


@_body
def _arcsinh_f64(x):
    """``arcsinh(x)`` for a float64 ``x``, within 3 ulp (see the module's docstring)."""
    a = abs(x)
    root = np.sqrt(a * a + 1.0)
    middle = (2.0 * a + 1.0 / (root + a)) - 1.0                  # log(2|x| + 1 / (sqrt(x**2 + 1) + |x|))
    small = a + a * a / (1.0 + root)                             # log1p(|x| + x**2 / (1 + sqrt(1 + x**2)))
    large = a > _TWO28
    result = _log1p_f64((a - 1.0) if large else (middle if a > 2.0 else small)) + (_LN2 if large else 0.0)
    result = a if a < _TWO_M28 else result                       # x itself (and inf, NaN)
    result = -result if _float64_bits(x) < 0 else result          # arcsinh is odd (arcsinh(-0) = -0)
    return result if a < np.inf else x


@_body
def _arccosh_f64(x):
    """``arccosh(x)`` for a float64 ``x``, within 3 ulp (see the module's docstring)."""
    middle = (2.0 * x - 1.0 / (x + np.sqrt(x * x - 1.0))) - 1.0   # log(2x - 1 / (x + sqrt(x**2 - 1)))
    t = x - 1.0
    small = t + np.sqrt(2.0 * t + t * t)                          # log1p(t + sqrt(2t + t**2)), t = x - 1
    large = x > _TWO28
    result = _log1p_f64((x - 1.0) if large else (middle if x > 2.0 else small)) + (_LN2 if large else 0.0)
    result = result if x < np.inf else x
    return result if x >= 1.0 else (x if x != x else np.nan)


@_body
def _arctanh_f64(x):
    """``arctanh(x)`` for a float64 ``x``, within 3 ulp (see the module's docstring)."""
    a = abs(x)
    small = 2.0 * a + 2.0 * a * a / (1.0 - a)                    # below 0.5: 0.5 log1p(2|x| + 2x**2 / (1 - |x|))
    large = (a + a) / (1.0 - a)                                  # 0.5 log1p(2|x| / (1 - |x|))
    result = 0.5 * _log1p_f64(small if a < 0.5 else large)
    result = a if a < _TWO_M28 else result                       # x itself
    result = np.inf if a == 1.0 else (result if a < 1.0 else np.nan)
    result = -result if _float64_bits(x) < 0 else result          # arctanh is odd
    return result if x == x else x


# ---------------------------------------------------------------- hypot
#
# Both operands scaled by a power of two (fdlibm's: 2**-600 above 2**500, 2**600 below 2**-500; exact), the sum
# of squares as two doubles, its square root corrected once by a Newton step on the pair.

_TWO500 = 3.273390607896142e+150
_TWO_M500 = 3.054936363499605e-151
_TWO600 = 4.149515568880993e+180
_TWO_M600 = 2.409919865102884e-181


@_body
def _hypot_f64(x, y):
    """``hypot(x, y)`` for float64 values, within 1 ulp (see the module's docstring)."""
    ax = abs(x)
    ay = abs(y)
    a = ax if ax >= ay else ay
    b = ay if ax >= ay else ax
    scale = _TWO_M600 if a > _TWO500 else (_TWO600 if a < _TWO_M500 else 1.0)
    a = a * scale
    b = b * scale
    high_a, low_a = _two_product(a, a)
    high_b, low_b = _two_product(b, b)
    total, low = _two_sum(high_a, high_b)
    low = low + (low_a + low_b)
    root = np.sqrt(total)
    square, square_low = _two_product(root, root)
    root = root + (((total - square) - square_low) + low) / (root + root)
    result = root / scale
    result = result if b > 0.0 else a / scale                      # hypot(x, 0) = |x| (also for 0, 0)
    result = ax + ay if a > b * 1.152921504606847e+18 else result  # |a / b| past 2**60: a, as fdlibm
    result = result if ax == ax and ay == ay else x + y
    return np.inf if ax == np.inf or ay == np.inf else result      # an infinity wins over NaN, as in C


# ---------------------------------------------------------------- cbrt
#
# FreeBSD's (fdlibm's) cbrt: an estimate from the exponent divided by 3 (in the high word's bits), a polynomial
# step to 23 bits, rounded away from zero to 23 bits, and one Newton step to 53 bits.

_CBRT_B1 = np.int64(715094163)               # (1023 - 1023 / 3 - 0.03306235651) * 2**20
_CBRT_B2 = np.int64(696219795)               # (1023 - 1023 / 3 - 54 / 3 - 0.03306235651) * 2**20
_CBRT_P = (1.87595182427177009643, -1.88497979543377169875, 1.621429720105354466140, -0.758397934778766047437,
           0.145996192886612446982)
_TWO54_HIGH_MASK = np.int64(0x7fffffff)
_CBRT_ROUND = np.int64(0x80000000)
_CBRT_KEEP = np.int64(-1073741824)           # 0xffffffffc0000000: a float64 rounded to 23 bits


@_body
def _cbrt_f64(x):
    """``cbrt(x)`` for a float64 ``x``, within 1 ulp (see the module's docstring)."""
    bits = _float64_bits(x)
    sign = (bits >> 32) & _CBRT_ROUND
    high = (bits >> 32) & _TWO54_HIGH_MASK
    scaled_high = (_float64_bits(x * _TWO54) >> 32) & _TWO54_HIGH_MASK       # subnormal x: its high word x 2**54
    subnormal = high < 0x00100000
    estimate_high = (scaled_high // 3 + _CBRT_B2) if subnormal else (high // 3 + _CBRT_B1)
    t = _bits_to_float64((sign | estimate_high) << 32)
    r = (t * t) * (t / x)
    t = t * ((_CBRT_P[0] + r * (_CBRT_P[1] + r * _CBRT_P[2])) + ((r * r) * r) * (_CBRT_P[3] + r * _CBRT_P[4]))
    t = _bits_to_float64((_float64_bits(t) + _CBRT_ROUND) & _CBRT_KEEP)
    s = t * t
    r = x / s
    w = t + t
    r = (r - t) / (w + r)
    t = t + t * r
    return t if x != 0.0 and high < 0x7ff00000 else x + x      # ±0, ±inf, NaN as they are


exp_f64, tanh_f64, log_f64, log1p_f64, expm1_f64, sin_f64, cos_f64, tan_f64, erf_f64, erfc_f64 = (
    _inlined(body, types.float64) for body in (_exp_f64, _tanh_f64, _log_f64, _log1p_f64, _expm1_f64,
                                               _sin_f64, _cos_f64, _tan_f64, _erf_f64, _erfc_f64))
log2_f64, log10_f64, exp2_f64, sinh_f64, cosh_f64 = (
    _inlined(body, types.float64) for body in (_log2_f64, _log10_f64, _exp2_f64, _sinh_f64, _cosh_f64))
pow_f64 = _inlined(_pow_f64, types.float64, arity=2)
arctan_f64 = _inlined(_arctan_f64, types.float64)
arcsin_f64 = _inlined(_arcsin_f64, types.float64)
arccos_f64 = _inlined(_arccos_f64, types.float64)
arcsinh_f64, arccosh_f64, arctanh_f64 = (_inlined(body, types.float64) for body in (_arcsinh_f64, _arccosh_f64,
                                                                                 _arctanh_f64))
arctan2_f64 = _inlined(_arctan2_f64, types.float64, arity=2)
hypot_f64 = _inlined(_hypot_f64, types.float64, arity=2)
cbrt_f64 = _inlined(_cbrt_f64, types.float64)
# float32 in float32 arithmetic (16 lanes a vector), or with a reduction of their own
exp_f32, tanh_f32, log_f32, log1p_f32, expm1_f32, sin_f32, cos_f32, tan_f32 = (
    _inlined(body, types.float32) for body in (_exp_f32, _tanh_f32, _log_f32, _log1p_f32, _expm1_f32,
                                               _sin_f32, _cos_f32, _tan_f32))
# float32 as the float64 function rounded once (within 1 ulp of float32)
erf_f32, erfc_f32, log2_f32, log10_f32, exp2_f32, sinh_f32, cosh_f32 = (
    _inlined(body, types.float32, through=types.float64)
    for body in (_erf_f64, _erfc_f64, _log2_f64, _log10_f64, _exp2_f64, _sinh_f64, _cosh_f64))
pow_f32 = _inlined(_pow_f64, types.float32, arity=2, through=types.float64)
arctan_f32 = _inlined(_arctan_f64, types.float32, through=types.float64)
arcsin_f32 = _inlined(_arcsin_f64, types.float32, through=types.float64)
arccos_f32 = _inlined(_arccos_f64, types.float32, through=types.float64)
arcsinh_f32, arccosh_f32, arctanh_f32 = (_inlined(body, types.float32, through=types.float64)
                                         for body in (_arcsinh_f64, _arccosh_f64, _arctanh_f64))
arctan2_f32 = _inlined(_arctan2_f64, types.float32, arity=2, through=types.float64)
hypot_f32 = _inlined(_hypot_f64, types.float32, arity=2, through=types.float64)
cbrt_f32 = _inlined(_cbrt_f64, types.float32, through=types.float64)
