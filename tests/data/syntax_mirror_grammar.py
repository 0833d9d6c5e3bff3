# Grammar corpus for tests/test_syntax_mirror.py: every construct the light syntax tree
# (optimlint/analysis/syntax.py) must mirror exactly like libcst. Never executed.
# -*- coding: utf-8 -*-

"""Module docstring, triple-quoted
with a second line."""

from __future__ import annotations

import os
import os.path as osp, sys
import a . b . c as d
from . import x
from .. m import (a, b as c)
from ..m import (
    a,  # first
    b as c,
)
from ... import y
from m import *
from m import (a )

x = 1; y = 2
x = 1 ; y = 2 ;
a = b = c = 3
a, *b = c
(a, b) = c, d = e
[a, (b, c)] = f
x: int
x: "List[int]" = []
x.attr: int = 1
x += 1; x -= 1; x *= 2; x /= 2; x //= 2; x %= 2; x **= 2; x @= m
x <<= 1; x >>= 1; x &= 1; x |= 1; x ^= 1
del a, b
del (a), b,
del (a, b)
del a,
del x[0], y.z
global g1, g2
assert x, "message"
assert (x)
raise
pass

if x: a; b
if x:
    pass
elif y:
    pass
elif z: pass
else:
    if w:
        pass

if a:
    pass
else: pass

if (a and
        b):  # trailing comment on the header
    # leading comment of the first statement
    x = 1

    # comment at block level, after a blank line
        # deeper comment
# comment at column 0
y = 2


@decorator
# comment between decorators
@decorator . attr (1, k = 2)  # comment after a decorator

# comment between the last decorator and def
def f(a, b: int = 1, *args: str, c, d=(2), **kwargs) -> "Ret":
    """Docstring."""
    global g1
    nonlocal_target = 1

    def inner():
        nonlocal nonlocal_target
        nonlocal_target += 1
        return nonlocal_target
    return inner


def posonly(a, b=2, /, c=3, *, d, e=4): ...
def g(): return (yield)
def h():
    yield
    yield 1
    yield from range(3)
    x = yield a, b
    print((yield))


async def coro(session):
    async with session.get(url) as resp, other() as (p, q):
        await resp.read()
    async for item in aiter():
        pass
    else:
        pass
    result = [i async for i in aiter() if await i]
    return await asyncio.gather(*tasks)


class C(Base, metaclass=Meta, **extra):
    attr: int = 0

    @property
    def p(self) -> int: return self.attr


class D: pass
class E(): pass
class F(
    Base,
):
    """Doc."""


lambda: 0
lambda a, b=1, *c, d, e=2, **f: (a, b, c, d, e, f)
lambda a, /, b, *, c: a
lambda *, k: k
lambda *a: a
f = lambda x : x
if (n := len(a)) > 10:
    print(f"{n=}")
while (chunk := read()) : process(chunk)
[y := f(x), y ** 2]

print(*a, **k)
print(a, *b, c=1, *d, **e)
f(a)(b)(c)
f(**k, a=1)
f(a=1, *b)
f((a))
f(((a)))
f((a), (b))
f(x for x in y)
f((x for x in y))
sum(x for x in y if x)
sum((x for x in y), start)
g = (x for x in y)
g = ((x for x in y))
f(
    a,  # comment with ( paren
    # comment line
    b,
)
f(a,
  (b)  # comment )
)
f(  # comment after the opening paren
    (c)
)

a < b <= c == d != e > f >= g
a in b not in c is d is not e
x = a and b and c or d
x = a or b and not c
x = not a
x = not not a
x = -a + +b - ~c
x = (a + b) * (c - d) / e // f % g ** h @ i
x = a << b >> c & d | e ^ f
x = ((a))
x = ((a, b))
x = (a, b)
x = a, b
x = a, b,
x = (a,)
x = a,
x = ()
x = ( )
x = (a), (b)
x = ((a), b)
x = (a).b, c
x = [a, b, *c]
x = [a, b, ]
x = [ ]
x = {a, *b}
x = {a: 1, **b, "c": 2}
x = {a: 1, b: 2,}
x = { }
x = a if b else c
x = (a if b else c)
x = [i for i in range(10)]
x = {i for i in range(10) if i if i % 2}
x = {k: v for k, v in items for v2 in k if v}
x = [(a, b) for a in x for b in y if a != b]
x = ...
x = a[1]
x = a[1:2]
x = a[1:2:3]
x = a[:]
x = a[::2]
x = a[::]
x = a[1:]
x = a[ : 2 ]
x = a[1, 2]
x = a[1:2, ::3, ...]
x = a[(1, 2)]
x = a[()]
x = a[1,]
x = a[b][c]
x = a . b . c
x = a.b(c).d[e]
x = 1_000 + 0x1F + 0o17 + 0b11 + 1e-3 + 1.5j + 3.
x = 1 if True else None
x = False

s = "double" 'single'
s = ("implicit"
     "concatenation"
     'of three')
s = "a" "b" "c" "d"
s = b"bytes" b'more'
s = rb"raw\bytes" + Rb'\d'
s = r"raw\string" + u"unicode"
s = """triple
quoted"""
s = '''single
triple''' "mixed"
s = f"plain {x} and {y!r} and {z:>10} and {w:{width}.{precision}}"
s = f"{x = }" f'{x=!s:^{w}}'
s = f"{{escaped}} {x}" F"{'nested'}" rf"\d{x}"
s = f"{a['k']}" + f"""multi
{line!a}
  {fn(x, y=2):>{width}}"""
s = f"{x:}" + f"{x!r:}" + f"{ x }"
s = f"{lambda_arg}" "and plain" f"{(yield_val)}"
s = f"{x:{'>' if left else '<'}10}"
s = f"{'a' 'b'}"
s = "é" + "中文" + f"{é}"
é = 1
中文 = é + 1
x = obj.属性
# identifiers that ast NFKC-normalizes (the source text must be kept)
ﬁle = obj.ﬁle + f(ﬁle=1)
def ﬁ(ﬂ, *ﬃ, **ﬄ): pass
x = 1 ; s = "ç" ; x.y = 1
if x: a = 1; b = 2;  # comment
s = "ünïcödé" ; t = 1
s = "\N{BULLET}" + f"\N{BULLET} {x}"

try:
    pass
except ValueError:
    pass
except (TypeError, KeyError) as e:
    pass
except Exception as e:
    raise RuntimeError("x") from e
except:
    raise
else:
    pass
finally:
    pass

try: pass
finally: pass

for i in range(10): pass
for i, (a, b) in enumerate(pairs):
    if i: continue
    else: break
else:
    pass
while x:
    x -= 1
else:
    pass

with open(p) as fh: pass
with a, b: pass
with (a): pass
with (a, b): pass
with (a, b,): pass
with (a) as b, c: pass
with (a, b) as c: pass
with (
    open(p) as fh,
    open(q) as gh,
):
    pass
with a as (b, c): pass
with a as [b, c]: pass

match command.split():
    case [action]:
        pass
    case [action, obj]:
        pass
    case Point(x=0, y=0):
        pass
    case Point(1, y=(2),):
        pass
    case [Point(x=0, y=0), *rest] | (a, b, ):
        pass
    case {"key": value, **rest}:
        pass
    case {1: _, "b": [*_]}:
        pass
    case (None):
        pass
    case True | False:
        pass
    case -1 | 1.5 | 2j | "s" | b"b":
        pass
    case A.B.c as d if d > 0:
        pass
    case (A . b as z) :
        pass
    case (1, 2):
        pass
    case ():
        pass
    case []:
        pass
    case x, y:
        pass
    case str() | bytes():
        pass
    case _:
        pass

match (x):
    case 1: pass
    # comment between cases

    case 2:
        pass
        # footer comment of the case

x = 1 + \
    2
if a and \
   b:
    pass
def continued(a,
              b):
    return a + \
        b


def tabbed():
	if x:
		return 1
	# tab comment
	return 2


def formfeed():
    pass

x = 1 + 2
# comment after a form feed

class Outer:
    class Inner:
        def method(self):
            try:
                pass
            except A:
                pass
        # comment at Inner's body level

    # comment at Outer's body level
    y = [
        1,
        2,
    ]
# trailing comment at end of file

