;; The 1:N scan kernel of the matcher, compiled with wabt by workers/matcherKernel.ts.
;;
;; It imports one shard's shared memory, laid out by src/matching/shard.ts: a tombstone byte per row;
;; per row an f32x4 of meta [|x|², scale, |x̂|², residual]; per row an f32 |x̂_t| (the norm of the
;; codes of dimensions 32..127, scaled); query slots (f32 query, then its i16 codes); the first 32
;; int8 codes of every row (x̂ = scale · code); the other 96 codes of every row; the rows themselves,
;; 128 f32 = 512 bytes.
;;
;; Both scans only pick candidates cheaply; every candidate that is not tombstoned is measured by
;; `distance`, the exact Σ(x − q)², and emitted if that is <= the bound. A candidate test may
;; let extra rows through but never drops one within the bound, so the result is exact:
;;  - scanQuantized reads 32 bytes of int8 codes per row, and 96 more for rows they cannot rule out (see there), instead of 512. With r = |x − x̂| and
;;    r_q = |q − q̂|, the triangle inequality gives |x − q| >= |x̂ − q̂| − r − r_q, so a row within
;;    the bound has |x̂ − q̂| <= sqrt(bound) + r + r_q. The integer dot product is exact; the f32
;;    rest is off by ~1e-6·(|x̂|² + |q̂|²), covered by a margin of 1e-5 of the same.
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

  ;; Rows [$from, $to) by their int8 codes against the query's i16 codes at $qc (scale $qs,
  ;; |q̂|² $qn, residual $qr, |q̂_h|² $qhn and |q̂_t| $qt); the f32 query is at $q. Returns the final bound.
  ;; First pass, the head (32 bytes of a row): |x̂ − q̂|² = |x̂_h − q̂_h|² + |x̂_t − q̂_t|² and
  ;; |x̂_t − q̂_t| >= | |x̂_t| − |q̂_t| |, so lb = |x̂_h − q̂_h|² + (|x̂_t| − |q̂_t|)² is a lower bound
  ;; on |x̂ − q̂|² from the head's exact integer dot product and the two tail norms; a row whose lb
  ;; exceeds the candidate test's limit (plus the same float margin) fails that test whatever its
  ;; tail holds, and its tail (96 bytes) is never read. The others get the full test as before.
  (func (export "scanQuantized")
    (param $from i32) (param $to i32) (param $flags i32) (param $meta i32) (param $tn i32) (param $head i32) (param $tail i32) (param $rows i32)
    (param $q i32) (param $qc i32) (param $qs f32) (param $qn f32) (param $qr f32) (param $qhn f32) (param $qt f32) (param $bound f32) (result f32)
    (local $a0 v128) (local $a1 v128) (local $m v128) (local $h i32) (local $t i32) (local $row i32) (local $dh i32)
    (local $reach f32) (local $nn f32) (local $lim f32) (local $tx f32) (local $sx f32) (local $lb f32) (local $next f32)
    ;; reach = how far |x̂ − q̂| may be from a row within the bound, minus the row's own residual
    (local.set $reach (f32.add (f32.mul (f32.sqrt (local.get $bound)) (f32.const 1.000001)) (local.get $qr)))
    (local.set $qs (f32.mul (local.get $qs) (f32.const 2)))
    (local.set $row (local.get $from))
    (local.set $h (i32.add (local.get $head) (i32.shl (local.get $from) (i32.const 5))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $row) (local.get $to)))
        (local.set $a0 (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (v128.load offset=0 (local.get $h))) (v128.load offset=0 (local.get $qc))))
        (local.set $a1 (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (v128.load offset=0 (local.get $h))) (v128.load offset=16 (local.get $qc))))
        (local.set $a0 (i32x4.add (local.get $a0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (v128.load offset=16 (local.get $h))) (v128.load offset=32 (local.get $qc)))))
        (local.set $a1 (i32x4.add (local.get $a1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (v128.load offset=16 (local.get $h))) (v128.load offset=48 (local.get $qc)))))
        (local.set $a0 (i32x4.add (local.get $a0) (local.get $a1)))
        (local.set $dh (i32.add (i32.add (i32x4.extract_lane 0 (local.get $a0)) (i32x4.extract_lane 1 (local.get $a0))) (i32.add (i32x4.extract_lane 2 (local.get $a0)) (i32x4.extract_lane 3 (local.get $a0)))))
        (local.set $m (v128.load (i32.add (local.get $meta) (i32.shl (local.get $row) (i32.const 4)))))
        (local.set $tx (f32.load (i32.add (local.get $tn) (i32.shl (local.get $row) (i32.const 2)))))
        (local.set $nn (f32.add (f32x4.extract_lane 2 (local.get $m)) (local.get $qn)))
        (local.set $sx (f32.mul (local.get $qs) (f32x4.extract_lane 1 (local.get $m))))
        (local.set $lim (f32.add (local.get $reach) (f32x4.extract_lane 3 (local.get $m))))
        (local.set $lim (f32.add (f32.mul (local.get $lim) (local.get $lim)) (f32.mul (f32.const 1e-5) (local.get $nn))))
        ;; lb = (|x̂|² − |x̂_t|²) + |q̂_h|² − 2·sx·sq·dot_h + (|x̂_t| − |q̂_t|)²
        (local.set $lb (f32.sub (local.get $tx) (local.get $qt)))
        (local.set $lb (f32.add
          (f32.sub (f32.add (f32.sub (f32x4.extract_lane 2 (local.get $m)) (f32.mul (local.get $tx) (local.get $tx))) (local.get $qhn))
                   (f32.mul (local.get $sx) (f32.convert_i32_s (local.get $dh))))
          (f32.mul (local.get $lb) (local.get $lb))))
        (if (f32.le (local.get $lb) (local.get $lim))
          (then
            (local.set $t (i32.add (local.get $tail) (i32.mul (local.get $row) (i32.const 96))))
                (local.set $a0 (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (v128.load offset=0 (local.get $t))) (v128.load offset=64 (local.get $qc))))
                (local.set $a1 (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (v128.load offset=0 (local.get $t))) (v128.load offset=80 (local.get $qc))))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (v128.load offset=16 (local.get $t))) (v128.load offset=96 (local.get $qc)))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (v128.load offset=16 (local.get $t))) (v128.load offset=112 (local.get $qc)))))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (v128.load offset=32 (local.get $t))) (v128.load offset=128 (local.get $qc)))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (v128.load offset=32 (local.get $t))) (v128.load offset=144 (local.get $qc)))))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (v128.load offset=48 (local.get $t))) (v128.load offset=160 (local.get $qc)))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (v128.load offset=48 (local.get $t))) (v128.load offset=176 (local.get $qc)))))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (v128.load offset=64 (local.get $t))) (v128.load offset=192 (local.get $qc)))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (v128.load offset=64 (local.get $t))) (v128.load offset=208 (local.get $qc)))))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (v128.load offset=80 (local.get $t))) (v128.load offset=224 (local.get $qc)))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (v128.load offset=80 (local.get $t))) (v128.load offset=240 (local.get $qc)))))
                (local.set $a0 (i32x4.add (local.get $a0) (local.get $a1)))
            (if (f32.le
                  (f32.sub (local.get $nn) (f32.mul (local.get $sx) (f32.convert_i32_s (i32.add (local.get $dh) (i32.add (i32.add (i32x4.extract_lane 0 (local.get $a0)) (i32x4.extract_lane 1 (local.get $a0))) (i32.add (i32x4.extract_lane 2 (local.get $a0)) (i32x4.extract_lane 3 (local.get $a0))))))))
                  (local.get $lim))
              (then
                (local.set $next (call $consider (local.get $row) (local.get $flags)
                  (i32.add (local.get $rows) (i32.shl (local.get $row) (i32.const 9))) (local.get $q) (local.get $bound)))
                (if (f32.ne (local.get $next) (local.get $bound))
                  (then
                    (local.set $bound (local.get $next))
                    (local.set $reach (f32.add (f32.mul (f32.sqrt (local.get $bound)) (f32.const 1.000001)) (local.get $qr)))))))))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (local.set $h (i32.add (local.get $h) (i32.const 32)))
        (br $next)))
    (local.get $bound))

  ;; Rows [$from, $to) by the dot-product form against the f32 query at $q (|q|² = $qn). Returns the
  ;; final bound.
  (func (export "scanFloat")
    (param $from i32) (param $to i32) (param $flags i32) (param $meta i32) (param $rows i32)
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
        (local.set $nn (f32.add (f32.load (i32.add (local.get $meta) (i32.shl (local.get $row) (i32.const 4)))) (local.get $qn)))
        (if (f32.le
              (f32.sub (local.get $nn) (f32.mul (f32.const 2) (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s)) (f32x4.extract_lane 1 (local.get $s))) (f32.add (f32x4.extract_lane 2 (local.get $s)) (f32x4.extract_lane 3 (local.get $s))))))
              (f32.add (local.get $bound) (f32.mul (f32.const 3e-5) (local.get $nn))))
          (then (local.set $bound (call $consider (local.get $row) (local.get $flags) (local.get $p) (local.get $q) (local.get $bound)))))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 512)))
        (br $next)))
    (local.get $bound))
)
