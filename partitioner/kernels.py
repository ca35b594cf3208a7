"""Compiled loops (numba) for the partitioner's line path: the per-byte and per-row work that
numpy and pyarrow can only do in several passes over temporaries.

Why numba: finding a block's fields, parsing three numbers per row and copying each row with
",chunkId,subChunkId" appended cost three vectorized passes each (masks, `flatnonzero`, a
pyarrow `take` of interleaved pieces, a cast over gathered text); one compiled loop per job
reads each byte once. The functions are compiled on first use and cached on disk next to
this file (`cache=True`), and release the GIL (`nogil=True`) so the appender thread writes
meanwhile.

Numbers: `parse_ints` accepts [+-]?digits (at most 18 digits); `parse_floats` the decimal
forms [+-]?(digits[.digits]|.digits)([eE][+-]?digits)? whose value is exact by Clinger's fast
path (significand <= 2**53 and a power of ten <= 1e22, both exact doubles, so one correctly
rounded multiplication or division gives the correctly rounded value). Anything else is
marked not-ok and left to the caller (pyarrow's cast): never a guessed value."""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from partitioner.constants import BLOCK, POW10, SUSPECTS
from qserv import jit
from qserv.checksum_kernels import call_crc32

jit.ready()

@intrinsic
def _copy(typingctx, dst, dst_pos, src, src_pos, count):
    """memcpy(&dst[dst_pos], &src[src_pos], count) for uint8 arrays (LLVM's memcpy: a byte
    loop with numba's signed indices is 5-10x slower; an intrinsic, unlike a ctypes call,
    keeps the function cacheable)."""
    def codegen(context, builder, signature, args):
        d, dp, s, sp, n = args
        dptr = context.make_array(signature.args[0])(context, builder, d).data
        sptr = context.make_array(signature.args[2])(context, builder, s).data
        cgutils.raw_memcpy(builder, builder.gep(dptr, [dp]), builder.gep(sptr, [sp]), n, 1)
        return context.get_dummy_value()
    return types.void(dst, dst_pos, src, src_pos, count), codegen


_MAX_EXACT = 1 << 53


@intrinsic
def _trailing_zeros(typingctx, word):
    """Trailing zero bits of a uint64 (LLVM's cttz: one instruction)."""
    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))
    return types.uint64(types.uint64), codegen




@intrinsic
def _masks64(typingctx, buf, pos, suspects):
    """(separators, suspects) of the 64 bytes buf[pos:pos + 64]: bit b of the first is set
    when byte pos + b is ',' or LF, of the second when it equals one of the SUSPECTS bytes
    of `suspects`. Vector compares and a bit cast: one instruction per 32 or 64 bytes each
    where the CPU has them (an 8-byte SWAR word before: 30% more time per block, mostly in
    the branch that leaves the loop over a word's separators, mispredicted once per word)."""
    def codegen(context, builder, signature, args):
        arr, p, sus = args
        data = context.make_array(signature.args[0])(context, builder, arr).data
        sus_data = context.make_array(signature.args[2])(context, builder, sus).data
        vt = ir.VectorType(ir.IntType(8), 64)
        v = builder.load(builder.bitcast(builder.gep(data, [p]), vt.as_pointer()), align=1)
        seps = builder.or_(builder.icmp_unsigned("==", v, ir.Constant(vt, [44] * 64)),
                           builder.icmp_unsigned("==", v, ir.Constant(vt, [10] * 64)))
        hits = None
        for j in range(SUSPECTS):
            byte = builder.load(builder.gep(sus_data, [ir.Constant(ir.IntType(64), j)]))
            splat = builder.shuffle_vector(
                builder.insert_element(ir.Constant(vt, ir.Undefined), byte, ir.Constant(ir.IntType(32), 0)),
                ir.Constant(vt, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), 64), [0] * 64))
            eq = builder.icmp_unsigned("==", v, splat)
            hits = eq if hits is None else builder.or_(hits, eq)
        i64 = ir.IntType(64)
        return context.make_tuple(builder, signature.return_type,
                                  [builder.bitcast(seps, i64), builder.bitcast(hits, i64)])
    return types.UniTuple(types.uint64, 2)(buf, pos, suspects), codegen


_c_memchr = types.ExternalFunction("memchr", types.intp(types.intp, types.int32, types.uintp))


@njit(cache=True, nogil=True)
def contains(buf, token):
    """Does `token` (uint8, not empty) occur in buf (uint8)? libc's memchr finds each
    candidate first byte (vector instructions); most first bytes never occur in a block."""
    n = buf.size
    k = token.size
    if k == 0 or k > n:
        return k == 0
    base = buf.ctypes.data
    first = np.int32(token[0])
    i = 0
    while i <= n - k:
        hit = _c_memchr(base + i, first, n - k + 1 - i)
        if hit == 0:
            return False
        i = hit - base
        same = True
        for j in range(1, k):
            if buf[i + j] != token[j]:
                same = False
                break
        if same:
            return True
        i += 1
    return False


@njit(cache=True, nogil=True)
def scan_lines(buf, k, cols, is_float, pow10, suspects, capacity):
    """Split `buf` (uint8, whole lines each ending with LF) into lines of exactly `k` fields
    separated by ',' with no empty field, and parse fields cols[j] as numbers (a float when
    is_float[j], else an int) as they are found. Returns (status, starts, ends, fstart, fend,
    values, ok, suspect): line i is buf[starts[i]:ends[i]] (ends[i] is its LF);
    fstart/fend[j, i] bound field cols[j] of line i; values[j, i] is its value (float64, or
    int64 stored in float64's place: view the row as int64) and ok[j, i] whether it parsed
    (as parse_floats / parse_ints decide). status: 0 ok, 1 a line has another number of
    fields or the last line has no LF, 2 an empty field or line (the caller then takes the
    general path), 3 more than `capacity` lines (the caller's estimate; -1: count the lines
    first, one more pass over the block, ~6 ms per 32 MB). `suspect`: whether one of the
    SUSPECTS bytes of `suspects` occurs in buf (the caller then looks for its tokens: one
    pass over the block instead of one per token).

    Separators are found 64 bytes at a time (_masks64), then one step per set bit: testing
    every byte mispredicted a branch at nearly every separator. Making the steps per
    separator branch-free was slower: four stores per separator instead of one or two.
    Numbers are parsed every _PARSE_LINES lines, while those lines are cached: parsing them
    in a second pass read every line from memory again (~20 ns per field on this VM), and
    parsing each field as it is found slowed the separator loop down more than that saved."""
    whole = buf.size == 0 or buf[buf.size - 1] == 10
    n = capacity if whole else 0
    if n < 0:
        n = 0
        for i in range(buf.size):
            n += buf[i] == 10
    w = cols.size
    starts = np.empty(n, np.int64)
    ends = np.empty(n, np.int64)
    fstart = np.empty((w, n), np.int64)
    fend = np.empty((w, n), np.int64)
    values = np.empty((w, n), np.float64)
    ok = np.empty((w, n), np.bool_)
    slot = np.full(k, -1, np.int64)
    for j in range(w):
        slot[cols[j]] = j
    line = 0
    field = 0
    begin = 0
    line_begin = 0
    seen = np.uint64(0)
    if not whole:                        # (no index may pass the arrays)
        return 1, starts, ends, fstart, fend, values, ok, False
    if n == 0 and buf.size:
        return 3, starts, ends, fstart, fend, values, ok, False
    full = buf.size // 64
    tail = np.zeros(64, np.uint8)       # the last bytes, zero-padded (a zero byte is no separator)
    tail[:buf.size - full * 64] = buf[full * 64:]
    for wi in range(full + 1):
        mask, hits = _masks64(buf, wi * 64, suspects) if wi < full else _masks64(tail, 0, suspects)
        seen |= hits
        while mask:
            i = wi * 64 + np.int64(_trailing_zeros(mask))
            mask &= mask - np.uint64(1)
            if i == begin:
                return 2, starts, ends, fstart, fend, values, ok, seen != 0
            if field >= k:
                return 1, starts, ends, fstart, fend, values, ok, seen != 0
            s = slot[field]
            if s >= 0:
                fstart[s, line] = begin
                fend[s, line] = i
            field += 1
            begin = i + 1
            if buf[i] == 10:
                if field != k:
                    return 1, starts, ends, fstart, fend, values, ok, seen != 0
                starts[line] = line_begin
                ends[line] = i
                line += 1
                field = 0
                line_begin = i + 1
                if line % _PARSE_LINES == 0:
                    _parse_fields(buf, fstart, fend, is_float, pow10, values, ok, line - _PARSE_LINES, line)
                if line == n and line_begin < buf.size:
                    return 3, starts, ends, fstart, fend, values, ok, seen != 0
    _parse_fields(buf, fstart, fend, is_float, pow10, values, ok, line - line % _PARSE_LINES, line)
    return (0, starts[:line], ends[:line], fstart[:, :line], fend[:, :line], values[:, :line],
            ok[:, :line], seen != 0)


_PARSE_LINES = 4096


@njit(cache=True, nogil=True)
def _parse_fields(buf, fstart, fend, is_float, pow10, values, ok, first, last):
    """Parse the wanted fields of lines first..last-1 (scan_lines, while they are cached)."""
    ints = values.view(np.int64)
    for s in range(fstart.shape[0]):
        if is_float[s]:
            _floats_into(buf, fstart[s, first:last], fend[s, first:last], pow10,
                         values[s, first:last], ok[s, first:last])
        else:
            _ints_into(buf, fstart[s, first:last], fend[s, first:last], ints[s, first:last],
                       ok[s, first:last])


@njit(cache=True, nogil=True, inline="always")
def _signed_int(buf, i, e, max_digits):
    """(value, ok) of buf[i:e] as [+-]?digits with at most max_digits digits."""
    neg = False
    if i < e and (buf[i] == 45 or buf[i] == 43):
        neg = buf[i] == 45
        i += 1
    if i == e or e - i > max_digits:
        return 0, False
    v = 0
    for j in range(i, e):
        d = np.int64(buf[j]) - 48
        if d < 0 or d > 9:
            return 0, False
        v = v * 10 + d
    return (-v if neg else v), True


@njit(cache=True, nogil=True)
def parse_ints(buf, fstart, fend):
    """int64 of each field buf[fstart[i]:fend[i]]; ok[i] False where it is not [+-]?digits
    of at most 18 digits (the caller decides: pyarrow's cast or the general path)."""
    out = np.zeros(fstart.size, np.int64)
    ok = np.ones(fstart.size, np.bool_)
    _ints_into(buf, fstart, fend, out, ok)
    return out, ok


@njit(cache=True, nogil=True, inline="always")
def _ints_into(buf, fstart, fend, out, ok):
    """parse_ints into the caller's arrays (also scan_lines' parse step)."""
    for r in range(fstart.size):
        out[r], ok[r] = _signed_int(buf, fstart[r], fend[r], 18)


@njit(cache=True, nogil=True)
def _general_float(buf, i, e, pow10):
    """(value, ok) of buf[i:e] as a decimal (see module doc): every form parse_floats takes."""
    neg = False
    if i < e and (buf[i] == 45 or buf[i] == 43):
        neg = buf[i] == 45
        i += 1
    m = 0              # significand (significant digits only)
    sig = 0            # significant digits in m
    exp10 = 0          # value = m * 10**exp10
    digits = 0         # digits seen before the exponent
    good = True
    point = False
    while i < e:
        c = np.int64(buf[i])
        if c == 46:
            if point:
                good = False
                break
            point = True
        elif 48 <= c <= 57:
            digits += 1
            if m == 0 and c == 48:
                if point:
                    exp10 -= 1          # leading zeros after the point
            elif sig < 18:
                m = m * 10 + (c - 48)
                sig += 1
                if point:
                    exp10 -= 1
            else:
                good = False            # too many significant digits for the fast path
                break
        else:
            break
        i += 1
    if not good or digits == 0:
        return 0.0, False
    if i < e:                           # exponent
        if buf[i] != 101 and buf[i] != 69:
            return 0.0, False
        x, good = _signed_int(buf, i + 1, e, 4)
        if not good:
            return 0.0, False
        exp10 += x
    if m == 0:
        v = 0.0
    elif m > _MAX_EXACT or exp10 < -22 or exp10 > 22:
        return 0.0, False
    elif exp10 < 0:
        v = np.float64(m) / pow10[-exp10]
    else:
        v = np.float64(m) * pow10[exp10]
    return (-v if neg else v), True


@njit(cache=True, nogil=True, inline="always")
def _plain_float(buf, i, e, pow10):
    """(value, ok) of buf[i:e] when it is [+-]?digits[.digits] with at most 18 digits and a
    significand <= 2**53 (catalog coordinates nearly always are): one tight loop, one branch
    per byte. The same value as _general_float (the same significand and power of ten, one
    correctly rounded operation); ok False sends the field to _general_float."""
    neg = False
    if i < e and (buf[i] == 45 or buf[i] == 43):
        neg = buf[i] == 45
        i += 1
    m = 0
    digits = 0
    point = -1
    while i < e:
        d = np.int64(buf[i]) - 48
        if np.uint64(d) <= np.uint64(9):
            m = m * 10 + d
            digits += 1
        elif d == -2 and point < 0:          # '.'
            point = digits
        else:
            return 0.0, False
        i += 1
    if digits == 0 or digits > 18 or m > _MAX_EXACT:
        return 0.0, False
    frac = digits - point if point >= 0 else 0
    v = np.float64(m) / pow10[frac] if frac else np.float64(m) * pow10[0]
    return (-v if neg else v), True


@njit(cache=True, nogil=True)
def parse_floats(buf, fstart, fend, pow10):
    """float64 of each decimal field buf[fstart[i]:fend[i]], exact (see module doc); ok[i]
    False where the text is not a plain decimal or the value needs more than the fast path."""
    out = np.zeros(fstart.size, np.float64)
    ok = np.ones(fstart.size, np.bool_)
    _floats_into(buf, fstart, fend, pow10, out, ok)
    return out, ok


@njit(cache=True, nogil=True, inline="always")
def _floats_into(buf, fstart, fend, pow10, out, ok):
    """parse_floats into the caller's arrays (also scan_lines' parse step)."""
    for r in range(fstart.size):
        out[r], ok[r] = _plain_float(buf, fstart[r], fend[r], pow10)
    for r in range(fstart.size):   # the other forms (a fallback call in the loop above slowed it 2x)
        if not ok[r]:
            out[r], ok[r] = _general_float(buf, fstart[r], fend[r], pow10)


@njit(cache=True, nogil=True, inline="always")
def _magnitude(v):
    """|v| as uint64 (also for the most negative int64)."""
    if v < 0:
        return np.uint64(-(v + 1)) + np.uint64(1)
    return np.uint64(v)


_TENS = np.array([10 ** i for i in range(20)], np.uint64)
_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), np.uint8).copy()


@njit(cache=True, nogil=True, inline="always")
def _digits(v):
    """Characters of v in decimal (with its minus sign): compares with powers of ten (a
    division per digit cost twice as much)."""
    u = _magnitude(v)
    d = 1
    while d < 20 and u >= _TENS[d]:
        d += 1
    return d + (1 if v < 0 else 0)


@njit(cache=True, nogil=True, inline="always")
def _put_int(out, p, v):
    """Write v in decimal at out[p:]; returns the position after it. Two digits per
    division, from a table of the pairs "00".."99"."""
    e = p + _digits(v)
    if v < 0:
        out[p] = 45
    u = _magnitude(v)
    q = e
    while u >= np.uint64(100):
        t = u // np.uint64(100)
        r = np.int64(u - t * np.uint64(100))
        q -= 2
        out[q] = _PAIRS[2 * r]
        out[q + 1] = _PAIRS[2 * r + 1]
        u = t
    if u >= np.uint64(10):
        r = np.int64(u)
        out[q - 2] = _PAIRS[2 * r]
        out[q - 1] = _PAIRS[2 * r + 1]
    else:
        out[q - 1] = np.uint8(48 + np.int64(u))
    return e


@njit(cache=True, nogil=True)
def group_slots(keys, n_keys):
    """Counting sort of rows by key (0 <= key < n_keys, e.g. a chunk id): (ok, slot, ids,
    starts): row r goes to output position slot[r], rows of key ids[i] fill positions
    starts[i]:starts[i + 1] (starts has one more entry) in input order, ids ascending, so
    the same order as a stable argsort. ok False when a key is out of range.

    Three passes over the rows and one over a table of n_keys counts (1.5 MB at chunk order
    7): replaces a stable argsort (two 16-bit radix passes), its inverse and the search for
    group bounds, ~0.6 s per 10M rows."""
    n = keys.size
    count = np.zeros(n_keys, np.int64)
    for r in range(n):
        k = keys[r]
        if k < 0 or k >= n_keys:
            return False, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(1, np.int64)
        count[k] += 1
    m = 0
    for k in range(n_keys):
        if count[k]:
            m += 1
    ids = np.empty(m, np.int64)
    starts = np.empty(m + 1, np.int64)
    j = 0
    total = 0
    for k in range(n_keys):
        c = count[k]
        if c:
            ids[j] = k
            starts[j] = total
            count[k] = total
            total += c
            j += 1
    starts[m] = total
    slot = np.empty(n, np.int64)
    for r in range(n):
        k = keys[r]
        slot[r] = count[k]
        count[k] += 1
    return True, slot, ids, starts


# --- Rows with ",chunkId,subChunkId" appended, and the director index ----------------------
#
# The ids' texts come from tables (`id_texts`: ",<chunkId>," for every chunk id of the run,
# "<subChunkId>\n" for every sub-chunk id), each at most 8 bytes kept as one uint64, so a row's
# suffix is two 8-byte stores instead of formatting two numbers (a division per two digits, a
# loop whose exit the CPU mispredicts): emit_rows went from 59 to 41-43 ms per 32 MB block,
# format_index from 16.6 to 6-12 ms.
# The stores are placed to END where their text ends (`_store_at` at end - 8), written from the
# row's end backwards, so nothing is ever written past a row's own bytes: rows land in any
# order (each chunk's region grows by slots) and a neighbour's bytes are never touched. Ids
# without a table entry (size 0: beyond the table, or text longer than 8 bytes) and rows too
# short for the 8-byte stores take the exact formatting path.


@intrinsic
def _store_at(typingctx, address, value):
    """The 8 bytes of value (uint64) stored at an address (any alignment)."""
    def codegen(context, builder, signature, args):
        a, v = args
        builder.store(v, builder.inttoptr(a, ir.IntType(64).as_pointer()), align=1)
        return context.get_dummy_value()
    return types.void(types.int64, types.uint64), codegen


@njit(cache=True, nogil=True)
def id_texts(count, lead, tail):
    """(text, size) for ids 0..count-1: the text lead + decimal id + tail (lead, tail: a byte
    value, or -1 for none) in the high `size` bytes of text[id] (uint64, little-endian: the
    8 bytes stored at `end - 8` end with the text); size 0 where the text exceeds 8 bytes."""
    text = np.zeros(count, np.uint64)
    size = np.zeros(count, np.uint8)
    tmp = np.zeros(32, np.uint8)
    for i in range(count):
        p = 0
        if lead >= 0:
            tmp[0] = lead
            p = 1
        p = _put_int(tmp, p, i)
        if tail >= 0:
            tmp[p] = tail
            p += 1
        if p > 8:
            continue
        v = np.uint64(0)
        for b in range(p):
            v |= np.uint64(tmp[b]) << np.uint64(8 * (8 - p + b))
        text[i] = v
        size[i] = p
    return text, size


@njit(cache=True, nogil=True, inline="always")
def _table_size(table_size, v):
    """The table's text size for id v, 0 when it has none."""
    if v < 0 or v >= table_size.size:
        return 0
    return np.int64(table_size[v])


@njit(cache=True, nogil=True, inline="always")
def _suffix_size(chunk, sub, csize, ssize):
    """Bytes of ",<chunk>,<sub>\n"."""
    c = _table_size(csize, chunk)
    s = _table_size(ssize, sub)
    if c and s:
        return c + s
    return 3 + _digits(chunk) + _digits(sub)


@njit(cache=True, nogil=True)
def emit_layout(line_start, line_end, chunk, sub, slot, o_rows, o_slot, csize, ssize):
    """Where emit_rows puts each output row: pos (int64, one more than the rows), output row
    k is out[pos[k]:pos[k + 1]]; pos[-1] is the size of the output. Arguments as emit_rows."""
    n = line_start.size
    m = n + o_rows.size
    pos = np.empty(m + 1, np.int64)
    for r in range(n):
        pos[slot[r]] = line_end[r] - line_start[r] + _suffix_size(chunk[r], sub[r], csize, ssize)
    for j in range(o_rows.size):
        r = o_rows[j]
        pos[o_slot[j]] = line_end[r] - line_start[r] + _suffix_size(chunk[r], sub[r], csize, ssize)
    total = 0
    for k in range(m):
        size = pos[k]
        pos[k] = total
        total += size
    pos[m] = total
    return pos


@njit(cache=True, nogil=True)
def emit_rows(out, pos, buf, line_start, line_end, chunk, sub, slot, o_rows, o_slot,
              ctext, csize, stext, ssize):
    """Output rows into `out` (uint8, pos[-1] bytes; pos from emit_layout), each a line of buf
    followed by ",<chunkId>,<subChunkId>\n": row r (buf[line_start[r]:line_end[r]], ids
    chunk[r], sub[r]) is output row slot[r], and its overlap copy j (row o_rows[j], same ids)
    is output row o_slot[j], at out[pos[k]:pos[k + 1]] for output row k. ctext/csize and
    stext/ssize: id_texts(n_chunks, ',', ',') and id_texts(n_subs, -1, '\n') (or empty).

    Rows are read in input order and written to their slots: the writes go to one growing
    region per chunk (a few thousand, whose ends stay in cache), the reads run through the
    block in order. Copying in output order instead read the block at random, a cache miss
    or two per row: 4x slower on a 436k-row block. Lines are copied with memcpy (a byte loop
    with signed indices is 5-10x slower). `out` is the caller's, so that it can be a buffer
    used before (partitioner/buffers.py): fresh memory cost a page fault per 4 KiB."""
    n = line_start.size
    # The rows' texts first, in a loop of their own (table loads at random chunk ids overlap
    # there), with -1 marking a row to format exactly. The copy loops then have no branch:
    # a marked row's stores go to a scratch word. (A branch to the exact path in the copy
    # loop, never taken, still made it twice as slow: 85 against 45 ms per block.)
    ct = np.empty(n, np.uint64)
    st = np.empty(n, np.uint64)
    cs = np.empty(n, np.int64)
    ss = np.empty(n, np.int64)
    exact = 0
    for r in range(n):
        c = _table_size(csize, chunk[r])
        b = _table_size(ssize, sub[r])
        if c and b and line_end[r] - line_start[r] + c >= 8:
            cs[r] = c
            ss[r] = b
            ct[r] = ctext[chunk[r]]
            st[r] = stext[sub[r]]
        else:
            cs[r] = -1
            ss[r] = 0
            ct[r] = np.uint64(0)
            st[r] = np.uint64(0)
            exact += 1
    scratch = np.zeros(2, np.uint64)
    base, spare = out.ctypes.data, scratch.ctypes.data + 8
    for r in range(n):
        _emit_line(out, base, spare, pos[slot[r]], buf, line_start[r], line_end[r],
                   ct[r], cs[r], st[r], ss[r])
    for j in range(o_rows.size):
        r = o_rows[j]
        _emit_line(out, base, spare, pos[o_slot[j]], buf, line_start[r], line_end[r],
                   ct[r], cs[r], st[r], ss[r])
    if exact:
        for r in range(n):
            if cs[r] < 0:
                _put_ids(out, pos[slot[r]] + line_end[r] - line_start[r], chunk[r], sub[r])
        for j in range(o_rows.size):
            r = o_rows[j]
            if cs[r] < 0:
                _put_ids(out, pos[o_slot[j]] + line_end[r] - line_start[r], chunk[r], sub[r])


@njit(cache=True, nogil=True, inline="always")
def _emit_line(out, base, spare, p, buf, start, end, ctext, c, stext, s):
    """A row's line and its texts' stores, from its end backwards (sub, chunk, then the
    line); c < 0: the line only (its stores go to `spare`, the ids are put later)."""
    n = end - start
    q = base + p + n + c
    if c < 0:
        q = spare
    _store_at(q + s - 8, stext)
    _store_at(q - 8, ctext)
    _copy(out, p, buf, start, n)


@njit(cache=True, nogil=True, inline="always")
def _put_ids(out, p, chunk, sub):
    """",<chunk>,<sub>\n" formatted at out[p:]."""
    out[p] = 44
    p = _put_int(out, p + 1, chunk)
    out[p] = 44
    p = _put_int(out, p + 1, sub)
    out[p] = 10


@njit(cache=True, nogil=True)
def index_size(key, chunk, sub, csize, ssize):
    """Bytes of format_index's output for these rows."""
    total = 0
    for i in range(key.size):
        total += _digits(key[i]) + _suffix_size(chunk[i], sub[i], csize, ssize)
    return total


@njit(cache=True, nogil=True)
def format_index(out, key, chunk, sub, ctext, csize, stext, ssize):
    """Director index lines "key,chunkId,subChunkId\n", one per row, into `out` (uint8 of
    index_size bytes: the caller's, so that it can be a buffer used before); the id tables
    as emit_rows'."""
    p = 0
    base = out.ctypes.data
    for i in range(key.size):
        k = _digits(key[i])
        c = _table_size(csize, chunk[i])
        s = _table_size(ssize, sub[i])
        if c and s and k + c >= 8:
            _store_at(base + p + k + c + s - 8, stext[sub[i]])
            _store_at(base + p + k + c - 8, ctext[chunk[i]])
            _put_int(out, p, key[i])
            p += k + c + s
            continue
        p = _put_int(out, p, key[i])
        _put_ids(out, p, chunk[i], sub[i])
        p += 3 + _digits(chunk[i]) + _digits(sub[i])


def numbers(buf: np.ndarray, fstart: np.ndarray, fend: np.ndarray, kind) -> tuple[np.ndarray, np.ndarray]:
    """(values, ok) of the fields as int64 (kind int) or float64 (kind float)."""
    if kind is float:
        return parse_floats(buf, fstart, fend, POW10)
    return parse_ints(buf, fstart, fend)


# --- Appends to many files (partitioner/appender.py) ----------------------------------------
#
# libc's write and a CRC-32 called from compiled code: a flush appends to ~12,000 files, and a
# Python loop over them (a GIL round trip per file) cost more than the writes.
#
# The CRC-32 (zlib's, the manifest's "crc32:" checksums) is a C function whose address the
# caller passes (qserv/crc.py: ISA-L's when it loads, else zlib's), called through that
# pointer, so that the machine code, cached or built ahead of time (qserv/compiled.py),
# holds no symbol of a library that may be missing.

_c_write = types.ExternalFunction("write", types.intp(types.int32, types.intp, types.uintp))
_c_writev = types.ExternalFunction("writev", types.intp(types.int32, types.intp, types.int32))


@njit(cache=True, nogil=True)
def _c_write_rest(fd, addr, n):
    """write() until n bytes are out (no CRC); False on an error."""
    done = 0
    while done < n:
        got = _c_write(fd, addr + done, n - done)
        if got <= 0:
            return False
        done += got
    return True


@njit(cache=True, nogil=True)
def _follow_crc(crc, f, addr, n, crc_fn):
    """crc[f] over n more bytes at addr (in steps the C function's length type holds)."""
    done = 0
    while done < n:
        step = min(n - done, 1 << 30)
        crc[f] = call_crc32(crc_fn, np.uint32(crc[f]), addr + done, np.uint64(step))
        done += step


@njit(cache=True, nogil=True)
def _write_all(fd, addr, n, crc, f, crc_fn):
    """write() until n bytes are out, following the file's CRC; False on an error."""
    if not _c_write_rest(fd, addr, n):
        return False
    _follow_crc(crc, f, addr, n, crc_fn)
    return True


@njit(cache=True, nogil=True)
def _write_two(fd, iov, a0, n0, a1, n1, crc, f, crc_fn):
    """Write n0 bytes at a0 then n1 bytes at a1 with one writev (iov: 4 int64 of scratch),
    finishing with write() after a short one; the file's CRC follows. False on an error."""
    iov[0] = a0
    iov[1] = n0
    iov[2] = a1
    iov[3] = n1
    got = _c_writev(fd, iov.ctypes.data, 2)
    if got < 0:
        return False
    if got < n0:
        if not (_c_write_rest(fd, a0 + got, n0 - got) and _c_write_rest(fd, a1, n1)):
            return False
    elif got < n0 + n1:
        if not _c_write_rest(fd, a1 + got - n0, n1 - (got - n0)):
            return False
    _follow_crc(crc, f, a0, n0, crc_fn)
    _follow_crc(crc, f, a1, n1, crc_fn)
    return True


@njit(cache=True, nogil=True)
def write_groups(fd_of, carry, carry_len, crc, gids, data, bounds, crc_fn):
    """Append data[bounds[i]:bounds[i+1]] to file gids[i] (fd fd_of[gid]), for each i in
    order. Files with a carry row (gid < carry.shape[0]) are written in whole BLOCKs: the
    file's waiting tail carry[gid, :carry_len[gid]] comes first, what is left past the last
    block boundary waits there (every write of such a file ends on a block boundary, so its
    size need not be tracked). crc[gid] follows what was written (crc_fn: the address from
    qserv/crc.py). Returns 0, or i + 1 when the write of group i failed.

    Completing a file's waiting block and the whole blocks after it go out in one writev:
    each write costs several microseconds besides the copy (ext4 updates the file's times
    and journals the inode), and this halves the writes of a run (~290k -> ~150k per 10M
    rows at order 7)."""
    base = data.ctypes.data
    iov = np.empty(4, np.int64)
    for i in range(gids.size):
        f = gids[i]
        fd = fd_of[f]
        p = bounds[i]
        end = bounds[i + 1]
        if p == end:
            continue
        if f >= carry.shape[0]:
            if not _write_all(fd, base + p, end - p, crc, f, crc_fn):
                return i + 1
            continue
        c = carry_len[f]
        if c + end - p < BLOCK:                      # still short of a block: wait
            carry[f, c:c + end - p] = data[p:end]
            carry_len[f] = c + end - p
            continue
        if c:                                        # complete the waiting block first
            k = BLOCK - c
            carry[f, c:BLOCK] = data[p:p + k]
            p += k
            whole = (end - p) - (end - p) % BLOCK
            if whole:                                # ... with the whole blocks after it
                if not _write_two(fd, iov, carry[f].ctypes.data, BLOCK, base + p, whole, crc, f, crc_fn):
                    return i + 1
                p += whole
            elif not _write_all(fd, carry[f].ctypes.data, BLOCK, crc, f, crc_fn):
                return i + 1
        else:
            whole = (end - p) - (end - p) % BLOCK
            if whole:
                if not _write_all(fd, base + p, whole, crc, f, crc_fn):
                    return i + 1
                p += whole
        carry[f, :end - p] = data[p:end]
        carry_len[f] = end - p
    return 0


@njit(cache=True, nogil=True)
def write_carries(fd_of, carry, carry_len, crc, gids, crc_fn):
    """Write the waiting tails of files gids (the end of a run). Returns 0 or i + 1 as
    write_groups."""
    for i in range(gids.size):
        f = gids[i]
        c = carry_len[f]
        if c:
            if not _write_all(fd_of[f], carry[f].ctypes.data, c, crc, f, crc_fn):
                return i + 1
            carry_len[f] = 0
    return 0


@njit(cache=True, nogil=True)
def max_offset(ra, dec, pos, dra, ddec):
    """The largest angle (degrees) between a child row's own position (ra, dec) and its
    director's (dra[pos], ddec[pos]): a bound of how far the row lies from the chunk it is
    placed in (its director's). Rows with pos < 0 (placed by their own position) and rows
    whose position is not finite or has |dec| > 90 (no region test accepts them) count 0.

    Haversine h = sin^2(dd/2) + cos d1 cos d2 sin^2(da/2) (the angle grows with h), computed
    only for rows whose cheap bound (dd/2)^2 + (da/2)^2 >= h (|sin x| <= |x|, cos <= 1; da
    reduced to [-180, 180]) exceeds the largest h so far: offsets are mostly tiny, so most rows
    cost a few subtractions and no trigonometry."""
    rad = np.pi / 180.0
    best = 0.0
    for i in range(ra.size):
        j = pos[i]
        if j < 0:
            continue
        a = ra[i]
        d = dec[i]
        if not (np.isfinite(a) and np.isfinite(d)) or d < -90.0 or d > 90.0:
            continue
        d2 = ddec[j]
        x = (d - d2) * (rad / 2.0)
        da = a - dra[j]
        if da > 180.0 or da < -180.0:
            da -= 360.0 * np.floor(da / 360.0 + 0.5)
        y = da * (rad / 2.0)
        if x * x + y * y <= best:
            continue
        sd = np.sin(x)
        sa = np.sin(y)
        h = sd * sd + np.cos(d * rad) * np.cos(d2 * rad) * sa * sa
        if h > best:
            best = h
    return 2.0 * np.arcsin(np.sqrt(min(1.0, best))) / rad
