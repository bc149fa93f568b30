;; The 1:N scan kernel of the matcher, compiled with wabt by workers/matcherKernel.ts.
;;
;; It imports one shard's shared memory, laid out by src/matching/shard.ts: a tombstone byte per
;; row; per row |x|² (f32), the integer squared norms of its codes' head and of all its codes (i32)
;; and its residual |x − x̂| (f32); query slots (f32 query, then its i16 codes); the int8 codes of
;; dimensions 0..63 of every row (the head); those of dimensions 64..127 (the tail); the rows
;; themselves, 128 f32 = 512 bytes.
;;
;; Rows' codes have one scale, S = 2^-8 (x̂ = S · code), and a query's are on grids of 4S (the
;; head) and 2S (the tail; see src/matching/distance.ts), so squared distances between codes are
;; integers, and S² = 2^-16 turns them into distances exactly.
;;
;; The scans only pick candidates cheaply; every candidate that is not tombstoned is measured by
;; `distance`, the exact Σ(x − q)², and emitted if that is <= the bound. A candidate test may
;; let extra rows through but never drops one within the bound, so the result is exact:
;;  - scanQuantized reads 64 bytes of int8 codes and a 4-byte head base per row, and the rest
;;    only for the rows they cannot rule out, instead of 512. With r = |x − x̂| and r_q = |q − q̂|,
;;    the triangle inequality gives |x − q| >= |x̂ − q̂| − r − r_q. Over the head's dimensions alone
;;    (r_h, r_qh the residuals over them), |x − q| >= |x_h − q_h| >= |x̂_h − q̂_h| − r_h − r_qh, so a
;;    row within the bound has |x̂_h − q̂_h| <= sqrt(bound) + r_h + r_qh. The head test uses
;;    R >= r_h of every row it tests (see $headLimit), the tail's test the row's own r and r_q.
;;    The integer parts are exact; the float rest (and `distance`'s own rounding, ~1e-5 relative)
;;    is covered by widening sqrt(bound) by 1e-4 and the squared limit by another 1e-4.
;;  - scanFullCodes makes the tail's test of every row, reading all 128 bytes of codes: the same
;;    candidates, cheaper when a loose bound lets most rows through the head test.
;;  - scanFloat uses |x|² + |q|² − 2·x·q with a margin of 3e-5·(|x|² + |q|²) (its f32 rounding
;;    error is ~1e-6 of that): the baseline, reading all 512 bytes of every row.
;;
;; Summation order of `distance` (a contract with src/matching/distance.ts, which reproduces it bit
;; for bit): the 32 f32x4 chunks go round-robin into four accumulators, a = (a0 + a1) + (a2 + a3),
;; then (a.0 + a.1) + (a.2 + a.3).
(module
  (import "env" "memory" (memory 1 65536 shared))
  ;; emit(row, exact squared distance) returns the bound to use from now on (the caller's k-th best).
  (import "env" "emit" (func $emit (param i32 f32) (result f32)))
  ;; The rows of the last code scan's call that passed the head test, for the caller to pick the
  ;; scan of its next block (see workers/matcherKernel.ts).
  (global $passes (export "passes") (mut i32) (i32.const 0))

  ;; Exact squared distance between the 128 f32 at byte offsets $p and $q.
  (func $distance (export "distance") (param $p i32) (param $q i32) (result f32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $e v128) (local $s v128)
    (local.set $e (f32x4.sub (v128.load offset=0 (local.get $p)) (v128.load offset=0 (local.get $q)))) (local.set $a0 (f32x4.mul (local.get $e) (local.get $e)))
    (local.set $e (f32x4.sub (v128.load offset=16 (local.get $p)) (v128.load offset=16 (local.get $q)))) (local.set $a1 (f32x4.mul (local.get $e) (local.get $e)))
    (local.set $e (f32x4.sub (v128.load offset=32 (local.get $p)) (v128.load offset=32 (local.get $q)))) (local.set $a2 (f32x4.mul (local.get $e) (local.get $e)))
    (local.set $e (f32x4.sub (v128.load offset=48 (local.get $p)) (v128.load offset=48 (local.get $q)))) (local.set $a3 (f32x4.mul (local.get $e) (local.get $e)))
    (local.set $e (f32x4.sub (v128.load offset=64 (local.get $p)) (v128.load offset=64 (local.get $q)))) (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=80 (local.get $p)) (v128.load offset=80 (local.get $q)))) (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=96 (local.get $p)) (v128.load offset=96 (local.get $q)))) (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=112 (local.get $p)) (v128.load offset=112 (local.get $q)))) (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=128 (local.get $p)) (v128.load offset=128 (local.get $q)))) (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=144 (local.get $p)) (v128.load offset=144 (local.get $q)))) (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=160 (local.get $p)) (v128.load offset=160 (local.get $q)))) (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=176 (local.get $p)) (v128.load offset=176 (local.get $q)))) (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=192 (local.get $p)) (v128.load offset=192 (local.get $q)))) (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=208 (local.get $p)) (v128.load offset=208 (local.get $q)))) (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=224 (local.get $p)) (v128.load offset=224 (local.get $q)))) (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=240 (local.get $p)) (v128.load offset=240 (local.get $q)))) (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=256 (local.get $p)) (v128.load offset=256 (local.get $q)))) (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=272 (local.get $p)) (v128.load offset=272 (local.get $q)))) (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=288 (local.get $p)) (v128.load offset=288 (local.get $q)))) (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=304 (local.get $p)) (v128.load offset=304 (local.get $q)))) (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=320 (local.get $p)) (v128.load offset=320 (local.get $q)))) (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=336 (local.get $p)) (v128.load offset=336 (local.get $q)))) (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=352 (local.get $p)) (v128.load offset=352 (local.get $q)))) (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=368 (local.get $p)) (v128.load offset=368 (local.get $q)))) (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=384 (local.get $p)) (v128.load offset=384 (local.get $q)))) (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=400 (local.get $p)) (v128.load offset=400 (local.get $q)))) (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=416 (local.get $p)) (v128.load offset=416 (local.get $q)))) (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=432 (local.get $p)) (v128.load offset=432 (local.get $q)))) (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=448 (local.get $p)) (v128.load offset=448 (local.get $q)))) (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=464 (local.get $p)) (v128.load offset=464 (local.get $q)))) (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=480 (local.get $p)) (v128.load offset=480 (local.get $q)))) (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $e (f32x4.sub (v128.load offset=496 (local.get $p)) (v128.load offset=496 (local.get $q)))) (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $e) (local.get $e))))
    (local.set $s (f32x4.add (f32x4.add (local.get $a0) (local.get $a1)) (f32x4.add (local.get $a2) (local.get $a3))))
    (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s)) (f32x4.extract_lane 1 (local.get $s))) (f32.add (f32x4.extract_lane 2 (local.get $s)) (f32x4.extract_lane 3 (local.get $s)))))

  ;; A candidate row: skip it if tombstoned, else emit it if its exact distance is within the bound.
  ;; Returns the bound from then on.
  (func $consider (param $row i32) (param $flags i32) (param $p i32) (param $q i32) (param $bound f32) (result f32)
    (local $d f32)
    (if (i32.load8_u (i32.add (local.get $flags) (local.get $row))) (then (return (local.get $bound))))
    (local.set $d (call $distance (local.get $p) (local.get $q)))
    (if (result f32) (f32.le (local.get $d) (local.get $bound))
      (then (call $emit (local.get $row) (local.get $d)))
      (else (local.get $bound))))

  ;; The head test's limit in code units (2⁻¹⁶): floor((a_h + R)^2 · 1.0001 · 2^16), where
  ;; a_h = sqrt(bound) + r_qh (widened), r_qh the query's residual over the head's dimensions alone,
  ;; and R = 0.015625 bounds the head's residual of every row whose head values are all within the
  ;; codes' range (64 half steps of 2⁻⁸ make at most √64 · 2⁻⁹ = 2⁻⁶); rows beyond it store a head
  ;; base lowered by 2³⁰, so that they always reach the tail's test, which uses their own residual
  ;; over all dimensions. Infinity saturates to the largest i32, which every row passes.
  (func $headLimit (param $bound f32) (param $qhr f32) (result i32)
    (local $r f64)
    (local.set $r (f64.add (f64.promote_f32 (f32.add (f32.mul (f32.sqrt (local.get $bound)) (f32.const 1.0001)) (local.get $qhr))) (f64.const 0.015625)))
    (i32.trunc_sat_f64_s (f64.floor (f64.mul (f64.mul (local.get $r) (local.get $r)) (f64.const 65542.5536)))))

  ;; A row whose head the test did not rule out: the full integer code distance from the head's
  ;; dot product ($dotHead) and the tail's (the query's i16 codes at $qc), then the same limit on
  ;; all of it. Returns the bound.
  (func $survivor (param $row i32) (param $dotHead i32) (param $flags i32) (param $fullBases i32) (param $residuals i32) (param $tail i32) (param $rows i32)
    (param $q i32) (param $qc i32) (param $qfb i32) (param $a f32) (param $bound f32) (result f32)
    (local $acc v128) (local $t i32) (local $lim f32) (local $full i32)
    (local.set $t (i32.add (local.get $tail) (i32.shl (local.get $row) (i32.const 6))))
    (local.set $acc (i32x4.add
      (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=0 (local.get $t)) (v128.load offset=128 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=8 (local.get $t)) (v128.load offset=144 (local.get $qc)))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=16 (local.get $t)) (v128.load offset=160 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=24 (local.get $t)) (v128.load offset=176 (local.get $qc)))))
      (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=32 (local.get $t)) (v128.load offset=192 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=40 (local.get $t)) (v128.load offset=208 (local.get $qc)))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=48 (local.get $t)) (v128.load offset=224 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=56 (local.get $t)) (v128.load offset=240 (local.get $qc)))))))
    ;; |c_h − 4q₆|² + |c_t − 2q₇|² = (|c|² + 256·Σc) + (16·|q₆|² + 4·|q₇|²) − 8·c_h·b_h − 4·c_t·b_t,
    ;; all integers (see src/matching/distance.ts)
    (local.set $full (i32.sub
      (i32.add (i32.load (i32.add (local.get $fullBases) (i32.shl (local.get $row) (i32.const 2)))) (local.get $qfb))
      (i32.add (i32.shl (local.get $dotHead) (i32.const 3))
        (i32.shl (i32.add (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc))) (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc))))
          (i32.const 2)))))
    (local.set $lim (f32.add (local.get $a) (f32.load (i32.add (local.get $residuals) (i32.shl (local.get $row) (i32.const 2))))))
    (local.set $lim (f32.mul (f32.mul (local.get $lim) (local.get $lim)) (f32.const 1.0001)))
    (if (result f32) (f32.le (f32.mul (f32.convert_i32_s (local.get $full)) (f32.const 0x1p-16)) (local.get $lim))
      (then (call $consider (local.get $row) (local.get $flags) (i32.add (local.get $rows) (i32.shl (local.get $row) (i32.const 9))) (local.get $q) (local.get $bound)))
      (else (local.get $bound))))

  ;; Rows [$from, $to) by their int8 codes against the query's biased codes (i16 at $qc, bytes at
  ;; $qb; its parts $qhb of the head's and $qfb of the whole squared code distance, its residual $qr
  ;; and that over the head's dimensions $qhr);
  ;; the f32 query is at $q. Returns the final bound. Four rows at a time: their head dot products
  ;; with the query (the query's head codes stay in registers), then one vector test of each row's
  ;; head code distance lb = hb + qhb − 8·c_h·b_h against its limit (sqrt(bound) + r_qh + R)²; the
  ;; few rows it cannot rule out go on to the tail. This one extends the row's codes to i16 and
  ;; uses SIMD128's i16 dot product. scanQuantizedRelaxed is this function with the two marked
  ;; parts (the query's codes, the rows' dot products) taken from the relaxed-SIMD section below,
  ;; made by kernelSource in workers/matcherKernel.ts.
  ;; <scan-codes>
  (func (export "scanQuantized")
    (param $from i32) (param $to i32) (param $flags i32) (param $headBases i32) (param $fullBases i32) (param $residuals i32) (param $head i32) (param $tail i32) (param $rows i32)
    (param $q i32) (param $qc i32) (param $qb i32) (param $qhb i32) (param $qfb i32) (param $qr f32) (param $qhr f32) (param $bound f32) (result f32)
    (local $Q0 v128) (local $Q1 v128) (local $Q2 v128) (local $Q3 v128) (local $Q4 v128) (local $Q5 v128) (local $Q6 v128) (local $Q7 v128) (local $zero v128)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128) (local $dot v128) (local $limit v128) (local $qhbs v128)
    (local $h i32) (local $row i32) (local $pass i32) (local $passed i32) (local $a f32) (local $next f32)
    ;; <query-codes>
    (local.set $Q0 (v128.load offset=0 (local.get $qc)))
    (local.set $Q1 (v128.load offset=16 (local.get $qc)))
    (local.set $Q2 (v128.load offset=32 (local.get $qc)))
    (local.set $Q3 (v128.load offset=48 (local.get $qc)))
    (local.set $Q4 (v128.load offset=64 (local.get $qc)))
    (local.set $Q5 (v128.load offset=80 (local.get $qc)))
    (local.set $Q6 (v128.load offset=96 (local.get $qc)))
    (local.set $Q7 (v128.load offset=112 (local.get $qc)))
    ;; </query-codes>
    ;; a = how far |x̂ − q̂| may be from a row within the bound, before the row's own residual
    (local.set $a (f32.add (f32.mul (f32.sqrt (local.get $bound)) (f32.const 1.0001)) (local.get $qr)))
    (local.set $limit (i32x4.splat (call $headLimit (local.get $bound) (local.get $qhr))))
    (local.set $qhbs (i32x4.splat (local.get $qhb)))
    (local.set $row (local.get $from))
    (local.set $h (i32.add (local.get $head) (i32.shl (local.get $from) (i32.const 6))))
    (block $done
      (loop $group
        (br_if $done (i32.ge_u (local.get $row) (local.get $to)))
        ;; <row-dots>
        (local.set $d0 (i32x4.add
          (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=0 (local.get $h)) (local.get $Q0)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=8 (local.get $h)) (local.get $Q1))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=16 (local.get $h)) (local.get $Q2)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=24 (local.get $h)) (local.get $Q3))))
          (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=32 (local.get $h)) (local.get $Q4)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=40 (local.get $h)) (local.get $Q5))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=48 (local.get $h)) (local.get $Q6)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=56 (local.get $h)) (local.get $Q7))))))
        (local.set $d1 (i32x4.add
          (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=64 (local.get $h)) (local.get $Q0)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=72 (local.get $h)) (local.get $Q1))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=80 (local.get $h)) (local.get $Q2)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=88 (local.get $h)) (local.get $Q3))))
          (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=96 (local.get $h)) (local.get $Q4)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=104 (local.get $h)) (local.get $Q5))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=112 (local.get $h)) (local.get $Q6)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=120 (local.get $h)) (local.get $Q7))))))
        (local.set $d2 (i32x4.add
          (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=128 (local.get $h)) (local.get $Q0)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=136 (local.get $h)) (local.get $Q1))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=144 (local.get $h)) (local.get $Q2)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=152 (local.get $h)) (local.get $Q3))))
          (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=160 (local.get $h)) (local.get $Q4)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=168 (local.get $h)) (local.get $Q5))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=176 (local.get $h)) (local.get $Q6)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=184 (local.get $h)) (local.get $Q7))))))
        (local.set $d3 (i32x4.add
          (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=192 (local.get $h)) (local.get $Q0)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=200 (local.get $h)) (local.get $Q1))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=208 (local.get $h)) (local.get $Q2)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=216 (local.get $h)) (local.get $Q3))))
          (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=224 (local.get $h)) (local.get $Q4)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=232 (local.get $h)) (local.get $Q5))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=240 (local.get $h)) (local.get $Q6)) (i32x4.dot_i16x8_s (v128.load8x8_s offset=248 (local.get $h)) (local.get $Q7))))))
        ;; </row-dots>
        ;; (Σd0, Σd1, Σd2, Σd3): interleave and add pairs of rows, then add the halves
        ;; <row-sums>
        (local.set $d0 (i32x4.add (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $d0) (local.get $d1)) (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $d0) (local.get $d1))))
        (local.set $d2 (i32x4.add (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $d2) (local.get $d3)) (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $d2) (local.get $d3))))
        (local.set $dot (i32x4.add (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $d0) (local.get $d2)) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $d0) (local.get $d2))))
        ;; </row-sums>
        ;; lb = hb + qhb − 8·c_h·b_h <= limit, in integers
        (local.set $pass (i32x4.bitmask (i32x4.le_s
          (i32x4.sub (i32x4.add (v128.load (i32.add (local.get $headBases) (i32.shl (local.get $row) (i32.const 2)))) (local.get $qhbs)) (i32x4.shl (local.get $dot) (i32.const 3)))
          (local.get $limit))))
        ;; Lanes at or past $to are not rows of this segment (their memory is read, never used).
        (if (i32.lt_u (i32.sub (local.get $to) (local.get $row)) (i32.const 4))
          (then (local.set $pass (i32.and (local.get $pass) (i32.sub (i32.shl (i32.const 1) (i32.sub (local.get $to) (local.get $row))) (i32.const 1))))))
        (local.set $passed (i32.add (local.get $passed) (i32.popcnt (local.get $pass))))
        (if (local.get $pass)
          (then
            (if (i32.and (local.get $pass) (i32.const 1))
              (then
                (local.set $next (call $survivor (i32.add (local.get $row) (i32.const 0)) (i32x4.extract_lane 0 (local.get $dot))
                  (local.get $flags) (local.get $fullBases) (local.get $residuals) (local.get $tail) (local.get $rows) (local.get $q) (local.get $qc) (local.get $qfb) (local.get $a) (local.get $bound)))
                (if (f32.ne (local.get $next) (local.get $bound))
                  (then
                    (local.set $bound (local.get $next))
                    (local.set $a (f32.add (f32.mul (f32.sqrt (local.get $bound)) (f32.const 1.0001)) (local.get $qr)))
                    (local.set $limit (i32x4.splat (call $headLimit (local.get $bound) (local.get $qhr))))))))
            (if (i32.and (local.get $pass) (i32.const 2))
              (then
                (local.set $next (call $survivor (i32.add (local.get $row) (i32.const 1)) (i32x4.extract_lane 1 (local.get $dot))
                  (local.get $flags) (local.get $fullBases) (local.get $residuals) (local.get $tail) (local.get $rows) (local.get $q) (local.get $qc) (local.get $qfb) (local.get $a) (local.get $bound)))
                (if (f32.ne (local.get $next) (local.get $bound))
                  (then
                    (local.set $bound (local.get $next))
                    (local.set $a (f32.add (f32.mul (f32.sqrt (local.get $bound)) (f32.const 1.0001)) (local.get $qr)))
                    (local.set $limit (i32x4.splat (call $headLimit (local.get $bound) (local.get $qhr))))))))
            (if (i32.and (local.get $pass) (i32.const 4))
              (then
                (local.set $next (call $survivor (i32.add (local.get $row) (i32.const 2)) (i32x4.extract_lane 2 (local.get $dot))
                  (local.get $flags) (local.get $fullBases) (local.get $residuals) (local.get $tail) (local.get $rows) (local.get $q) (local.get $qc) (local.get $qfb) (local.get $a) (local.get $bound)))
                (if (f32.ne (local.get $next) (local.get $bound))
                  (then
                    (local.set $bound (local.get $next))
                    (local.set $a (f32.add (f32.mul (f32.sqrt (local.get $bound)) (f32.const 1.0001)) (local.get $qr)))
                    (local.set $limit (i32x4.splat (call $headLimit (local.get $bound) (local.get $qhr))))))))
            (if (i32.and (local.get $pass) (i32.const 8))
              (then
                (local.set $next (call $survivor (i32.add (local.get $row) (i32.const 3)) (i32x4.extract_lane 3 (local.get $dot))
                  (local.get $flags) (local.get $fullBases) (local.get $residuals) (local.get $tail) (local.get $rows) (local.get $q) (local.get $qc) (local.get $qfb) (local.get $a) (local.get $bound)))
                (if (f32.ne (local.get $next) (local.get $bound))
                  (then
                    (local.set $bound (local.get $next))
                    (local.set $a (f32.add (f32.mul (f32.sqrt (local.get $bound)) (f32.const 1.0001)) (local.get $qr)))
                    (local.set $limit (i32x4.splat (call $headLimit (local.get $bound) (local.get $qhr))))))))
))
        (local.set $row (i32.add (local.get $row) (i32.const 4)))
        (local.set $h (i32.add (local.get $h) (i32.const 256)))
        (br $group)))
    (global.set $passes (local.get $passed))
    (local.get $bound))

  ;; The same candidates as scanQuantized, for blocks where its head test lets most rows through
  ;; (a loose bound: the nearest so far, an exhaustive k-th): every row's full code distance, from
  ;; the head's and the tail's dot products of four rows at a time, tested against the row's own
  ;; limit in one vector test (the test $survivor makes of one row, lane by lane with the same f32
  ;; operations), instead of a call per row that passes the head. The head test is still counted
  ;; into $passes, so that the caller sees when it bites again. The exact distance of each
  ;; candidate is measured by $consider, in row order, as in scanQuantized.
  (func (export "scanFullCodes")
    (param $from i32) (param $to i32) (param $flags i32) (param $headBases i32) (param $fullBases i32) (param $residuals i32) (param $head i32) (param $tail i32) (param $rows i32)
    (param $q i32) (param $qc i32) (param $qb i32) (param $qhb i32) (param $qfb i32) (param $qr f32) (param $qhr f32) (param $bound f32) (result f32)
    (local $Q0 v128) (local $Q1 v128) (local $Q2 v128) (local $Q3 v128) (local $Q4 v128) (local $Q5 v128) (local $Q6 v128) (local $Q7 v128) (local $zero v128)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128) (local $e0 v128) (local $e1 v128) (local $e2 v128) (local $e3 v128)
    (local $dot v128) (local $tailDot v128) (local $limit v128) (local $qhbs v128) (local $qfbs v128) (local $av v128) (local $lim v128)
    (local $h i32) (local $t i32) (local $row i32) (local $lanes i32) (local $pass i32) (local $passed i32) (local $full i32) (local $lane i32) (local $a f32) (local $next f32)
    ;; <same query-codes>
    (local.set $a (f32.add (f32.mul (f32.sqrt (local.get $bound)) (f32.const 1.0001)) (local.get $qr)))
    (local.set $limit (i32x4.splat (call $headLimit (local.get $bound) (local.get $qhr))))
    (local.set $av (f32x4.splat (local.get $a)))
    (local.set $qhbs (i32x4.splat (local.get $qhb)))
    (local.set $qfbs (i32x4.splat (local.get $qfb)))
    (local.set $row (local.get $from))
    (local.set $h (i32.add (local.get $head) (i32.shl (local.get $from) (i32.const 6))))
    (local.set $t (i32.add (local.get $tail) (i32.shl (local.get $from) (i32.const 6))))
    (block $done
      (loop $group
        (br_if $done (i32.ge_u (local.get $row) (local.get $to)))
        ;; <same row-dots>
        ;; <tail-dots>
        (local.set $e0 (i32x4.add (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=0 (local.get $t)) (v128.load offset=128 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=8 (local.get $t)) (v128.load offset=144 (local.get $qc)))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=16 (local.get $t)) (v128.load offset=160 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=24 (local.get $t)) (v128.load offset=176 (local.get $qc))))) (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=32 (local.get $t)) (v128.load offset=192 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=40 (local.get $t)) (v128.load offset=208 (local.get $qc)))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=48 (local.get $t)) (v128.load offset=224 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=56 (local.get $t)) (v128.load offset=240 (local.get $qc)))))))
        (local.set $e1 (i32x4.add (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=64 (local.get $t)) (v128.load offset=128 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=72 (local.get $t)) (v128.load offset=144 (local.get $qc)))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=80 (local.get $t)) (v128.load offset=160 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=88 (local.get $t)) (v128.load offset=176 (local.get $qc))))) (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=96 (local.get $t)) (v128.load offset=192 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=104 (local.get $t)) (v128.load offset=208 (local.get $qc)))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=112 (local.get $t)) (v128.load offset=224 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=120 (local.get $t)) (v128.load offset=240 (local.get $qc)))))))
        (local.set $e2 (i32x4.add (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=128 (local.get $t)) (v128.load offset=128 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=136 (local.get $t)) (v128.load offset=144 (local.get $qc)))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=144 (local.get $t)) (v128.load offset=160 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=152 (local.get $t)) (v128.load offset=176 (local.get $qc))))) (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=160 (local.get $t)) (v128.load offset=192 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=168 (local.get $t)) (v128.load offset=208 (local.get $qc)))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=176 (local.get $t)) (v128.load offset=224 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=184 (local.get $t)) (v128.load offset=240 (local.get $qc)))))))
        (local.set $e3 (i32x4.add (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=192 (local.get $t)) (v128.load offset=128 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=200 (local.get $t)) (v128.load offset=144 (local.get $qc)))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=208 (local.get $t)) (v128.load offset=160 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=216 (local.get $t)) (v128.load offset=176 (local.get $qc))))) (i32x4.add (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=224 (local.get $t)) (v128.load offset=192 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=232 (local.get $t)) (v128.load offset=208 (local.get $qc)))) (i32x4.add (i32x4.dot_i16x8_s (v128.load8x8_s offset=240 (local.get $t)) (v128.load offset=224 (local.get $qc))) (i32x4.dot_i16x8_s (v128.load8x8_s offset=248 (local.get $t)) (v128.load offset=240 (local.get $qc)))))))
        ;; </tail-dots>
        ;; (Σd0, Σd1, Σd2, Σd3) and the same of e: interleave and add pairs of rows, then add the halves
        ;; <same row-sums>
        (local.set $e0 (i32x4.add (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $e0) (local.get $e1)) (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $e0) (local.get $e1))))
        (local.set $e2 (i32x4.add (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $e2) (local.get $e3)) (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $e2) (local.get $e3))))
        (local.set $tailDot (i32x4.add (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $e0) (local.get $e2)) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $e0) (local.get $e2))))
        ;; Lanes at or past $to are not rows of this segment (their memory is read, never used).
        (local.set $lanes (i32.const 15))
        (if (i32.lt_u (i32.sub (local.get $to) (local.get $row)) (i32.const 4))
          (then (local.set $lanes (i32.sub (i32.shl (i32.const 1) (i32.sub (local.get $to) (local.get $row))) (i32.const 1)))))
        ;; the head test, counted only
        (local.set $pass (i32.and (local.get $lanes) (i32x4.bitmask (i32x4.le_s
          (i32x4.sub (i32x4.add (v128.load (i32.add (local.get $headBases) (i32.shl (local.get $row) (i32.const 2)))) (local.get $qhbs)) (i32x4.shl (local.get $dot) (i32.const 3)))
          (local.get $limit)))))
        (local.set $passed (i32.add (local.get $passed) (i32.popcnt (local.get $pass))))
        ;; |c_h − 4q₆|² + |c_t − 2q₇|² (as in $survivor) over all dimensions, against ((a + r)² · 1.0001) · 2¹⁶
        (local.set $lim (f32x4.add (local.get $av) (v128.load (i32.add (local.get $residuals) (i32.shl (local.get $row) (i32.const 2))))))
        (local.set $lim (f32x4.mul (f32x4.mul (local.get $lim) (local.get $lim)) (f32x4.splat (f32.const 1.0001))))
        (local.set $full (i32.and (local.get $lanes) (i32x4.bitmask (f32x4.le
          (f32x4.mul
            (f32x4.convert_i32x4_s (i32x4.sub
              (i32x4.add (v128.load (i32.add (local.get $fullBases) (i32.shl (local.get $row) (i32.const 2)))) (local.get $qfbs))
              (i32x4.add (i32x4.shl (local.get $dot) (i32.const 3)) (i32x4.shl (local.get $tailDot) (i32.const 2)))))
            (f32x4.splat (f32.const 0x1p-16)))
          (local.get $lim)))))
        (block $considered
          (loop $candidates
            (br_if $considered (i32.eqz (local.get $full)))
            (local.set $lane (i32.add (local.get $row) (i32.ctz (local.get $full))))
            (local.set $full (i32.and (local.get $full) (i32.sub (local.get $full) (i32.const 1))))
            (local.set $next (call $consider (local.get $lane) (local.get $flags) (i32.add (local.get $rows) (i32.shl (local.get $lane) (i32.const 9))) (local.get $q) (local.get $bound)))
            (if (f32.ne (local.get $next) (local.get $bound))
              (then
                (local.set $bound (local.get $next))
                (local.set $a (f32.add (f32.mul (f32.sqrt (local.get $bound)) (f32.const 1.0001)) (local.get $qr)))
                (local.set $limit (i32x4.splat (call $headLimit (local.get $bound) (local.get $qhr))))
                (local.set $av (f32x4.splat (local.get $a)))))
            (br $candidates)))
        (local.set $row (i32.add (local.get $row) (i32.const 4)))
        (local.set $h (i32.add (local.get $h) (i32.const 256)))
        (local.set $t (i32.add (local.get $t) (i32.const 256)))
        (br $group)))
    (global.set $passes (local.get $passed))
    (local.get $bound))
  ;; </scan-codes>

;; <relaxed-simd>
  ;; The parts of scanQuantizedRelaxed that differ from scanQuantized (the rest is the same text,
  ;; see kernelSource), which use the relaxed dot product i16x8.relaxed_dot_i8x16_i7x16_s: the
  ;; row's 16 int8 codes times the query's 16 biased codes, the unsigned 7-bit operand for which
  ;; every lowering gives the same exact sums, added in pairs into an i16x8 (one pmaddubsw on x86).
  ;; The head's query codes are 0..63, so two of those add up in i16 without overflow
  ;; (2 · 2 · 127 · 63 = 32004) before i32x4.extadd_pairwise_i16x8_s widens them (one pmaddwd):
  ;; six multiplies per row's head. i32x4.relaxed_dot_i8x16_i7x16_add_s is, on x86 without
  ;; AVX-VNNI, five instructions per 16 codes in V8 (pmaddubsw, pmaddwd by 1s it rebuilds each
  ;; time, an add): eight multiplies and four shifts a head, on the same two ports (with AVX-VNNI
  ;; it is one vpdpbusd, four a head, which this gives up there). The tail's codes are 0..127, so
  ;; each of its dot products is widened on its own. Present only when the runtime validates
  ;; relaxed SIMD (workers/matcherKernel.ts).
  ;; <query-codes>
    (local.set $Q0 (v128.load offset=0 (local.get $qb)))
    (local.set $Q1 (v128.load offset=16 (local.get $qb)))
    (local.set $Q2 (v128.load offset=32 (local.get $qb)))
    (local.set $Q3 (v128.load offset=48 (local.get $qb)))
  ;; </query-codes>
  ;; <row-dots>
        (local.set $d0 (i32x4.add
          (i32x4.extadd_pairwise_i16x8_s (i16x8.add (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=0 (local.get $h)) (local.get $Q0)) (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=16 (local.get $h)) (local.get $Q1))))
          (i32x4.extadd_pairwise_i16x8_s (i16x8.add (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=32 (local.get $h)) (local.get $Q2)) (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=48 (local.get $h)) (local.get $Q3))))))
        (local.set $d1 (i32x4.add
          (i32x4.extadd_pairwise_i16x8_s (i16x8.add (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=64 (local.get $h)) (local.get $Q0)) (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=80 (local.get $h)) (local.get $Q1))))
          (i32x4.extadd_pairwise_i16x8_s (i16x8.add (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=96 (local.get $h)) (local.get $Q2)) (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=112 (local.get $h)) (local.get $Q3))))))
        (local.set $d2 (i32x4.add
          (i32x4.extadd_pairwise_i16x8_s (i16x8.add (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=128 (local.get $h)) (local.get $Q0)) (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=144 (local.get $h)) (local.get $Q1))))
          (i32x4.extadd_pairwise_i16x8_s (i16x8.add (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=160 (local.get $h)) (local.get $Q2)) (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=176 (local.get $h)) (local.get $Q3))))))
        (local.set $d3 (i32x4.add
          (i32x4.extadd_pairwise_i16x8_s (i16x8.add (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=192 (local.get $h)) (local.get $Q0)) (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=208 (local.get $h)) (local.get $Q1))))
          (i32x4.extadd_pairwise_i16x8_s (i16x8.add (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=224 (local.get $h)) (local.get $Q2)) (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=240 (local.get $h)) (local.get $Q3))))))
  ;; </row-dots>
  ;; <tail-dots>
        (local.set $e0 (i32x4.add
          (i32x4.add (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=0 (local.get $t)) (v128.load offset=64 (local.get $qb)))) (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=16 (local.get $t)) (v128.load offset=80 (local.get $qb)))))
          (i32x4.add (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=32 (local.get $t)) (v128.load offset=96 (local.get $qb)))) (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=48 (local.get $t)) (v128.load offset=112 (local.get $qb)))))))
        (local.set $e1 (i32x4.add
          (i32x4.add (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=64 (local.get $t)) (v128.load offset=64 (local.get $qb)))) (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=80 (local.get $t)) (v128.load offset=80 (local.get $qb)))))
          (i32x4.add (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=96 (local.get $t)) (v128.load offset=96 (local.get $qb)))) (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=112 (local.get $t)) (v128.load offset=112 (local.get $qb)))))))
        (local.set $e2 (i32x4.add
          (i32x4.add (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=128 (local.get $t)) (v128.load offset=64 (local.get $qb)))) (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=144 (local.get $t)) (v128.load offset=80 (local.get $qb)))))
          (i32x4.add (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=160 (local.get $t)) (v128.load offset=96 (local.get $qb)))) (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=176 (local.get $t)) (v128.load offset=112 (local.get $qb)))))))
        (local.set $e3 (i32x4.add
          (i32x4.add (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=192 (local.get $t)) (v128.load offset=64 (local.get $qb)))) (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=208 (local.get $t)) (v128.load offset=80 (local.get $qb)))))
          (i32x4.add (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=224 (local.get $t)) (v128.load offset=96 (local.get $qb)))) (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s (v128.load offset=240 (local.get $t)) (v128.load offset=112 (local.get $qb)))))))
  ;; </tail-dots>
  ;; </relaxed-simd>

  ;; Rows [$from, $to) by the dot-product form against the f32 query at $q (|q|² = $qn; |x|² from $norms). Returns the
  ;; final bound.
  (func (export "scanFloat")
    (param $from i32) (param $to i32) (param $flags i32) (param $norms i32) (param $rows i32)
    (param $q i32) (param $qn f32) (param $bound f32) (result f32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $s v128)
    (local $row i32) (local $p i32) (local $nn f32)
    (local.set $row (local.get $from))
    (local.set $p (i32.add (local.get $rows) (i32.shl (local.get $from) (i32.const 9))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $row) (local.get $to)))
        (local.set $a0 (f32x4.mul (v128.load offset=0 (local.get $p)) (v128.load offset=0 (local.get $q))))
        (local.set $a1 (f32x4.mul (v128.load offset=16 (local.get $p)) (v128.load offset=16 (local.get $q))))
        (local.set $a2 (f32x4.mul (v128.load offset=32 (local.get $p)) (v128.load offset=32 (local.get $q))))
        (local.set $a3 (f32x4.mul (v128.load offset=48 (local.get $p)) (v128.load offset=48 (local.get $q))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load offset=64 (local.get $p)) (v128.load offset=64 (local.get $q)))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load offset=80 (local.get $p)) (v128.load offset=80 (local.get $q)))))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load offset=96 (local.get $p)) (v128.load offset=96 (local.get $q)))))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load offset=112 (local.get $p)) (v128.load offset=112 (local.get $q)))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load offset=128 (local.get $p)) (v128.load offset=128 (local.get $q)))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load offset=144 (local.get $p)) (v128.load offset=144 (local.get $q)))))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load offset=160 (local.get $p)) (v128.load offset=160 (local.get $q)))))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load offset=176 (local.get $p)) (v128.load offset=176 (local.get $q)))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load offset=192 (local.get $p)) (v128.load offset=192 (local.get $q)))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load offset=208 (local.get $p)) (v128.load offset=208 (local.get $q)))))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load offset=224 (local.get $p)) (v128.load offset=224 (local.get $q)))))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load offset=240 (local.get $p)) (v128.load offset=240 (local.get $q)))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load offset=256 (local.get $p)) (v128.load offset=256 (local.get $q)))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load offset=272 (local.get $p)) (v128.load offset=272 (local.get $q)))))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load offset=288 (local.get $p)) (v128.load offset=288 (local.get $q)))))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load offset=304 (local.get $p)) (v128.load offset=304 (local.get $q)))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load offset=320 (local.get $p)) (v128.load offset=320 (local.get $q)))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load offset=336 (local.get $p)) (v128.load offset=336 (local.get $q)))))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load offset=352 (local.get $p)) (v128.load offset=352 (local.get $q)))))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load offset=368 (local.get $p)) (v128.load offset=368 (local.get $q)))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load offset=384 (local.get $p)) (v128.load offset=384 (local.get $q)))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load offset=400 (local.get $p)) (v128.load offset=400 (local.get $q)))))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load offset=416 (local.get $p)) (v128.load offset=416 (local.get $q)))))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load offset=432 (local.get $p)) (v128.load offset=432 (local.get $q)))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load offset=448 (local.get $p)) (v128.load offset=448 (local.get $q)))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load offset=464 (local.get $p)) (v128.load offset=464 (local.get $q)))))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load offset=480 (local.get $p)) (v128.load offset=480 (local.get $q)))))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load offset=496 (local.get $p)) (v128.load offset=496 (local.get $q)))))
        (local.set $s (f32x4.add (f32x4.add (local.get $a0) (local.get $a1)) (f32x4.add (local.get $a2) (local.get $a3))))
        (local.set $nn (f32.add (f32.load (i32.add (local.get $norms) (i32.shl (local.get $row) (i32.const 2)))) (local.get $qn)))
        (if (f32.le
              (f32.sub (local.get $nn) (f32.mul (f32.const 2) (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s)) (f32x4.extract_lane 1 (local.get $s))) (f32.add (f32x4.extract_lane 2 (local.get $s)) (f32x4.extract_lane 3 (local.get $s))))))
              (f32.add (local.get $bound) (f32.mul (f32.const 3e-5) (local.get $nn))))
          (then (local.set $bound (call $consider (local.get $row) (local.get $flags) (local.get $p) (local.get $q) (local.get $bound)))))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 512)))
        (br $next)))
    (local.get $bound))
)
