package services

import (
	"math"
	"math/bits"
)

// Fixed-point arithmetic for totals. Sums are int64 in MeasureScale units,
// and int64 wraps silently: 92,800 records of MaxMeasure once turned a
// district's total negative. Every conversion and addition of sums goes
// through these helpers, so a total is either exact or refused, never
// wrapped.

// AddFixed returns a+b and whether it fits in int64 (false: the sum
// overflowed and the value returned is meaningless).
func AddFixed(a, b int64) (int64, bool) {
	// Two's complement addition is unsigned addition; the signed result
	// overflowed exactly when both operands have the same sign and the
	// sum's sign differs (the carry out of the sign bit is not enough for
	// signed operands, so bits.Add64 gives the sum and the sign test the
	// verdict).
	s, _ := bits.Add64(uint64(a), uint64(b), 0)
	sum := int64(s)
	return sum, (a^sum)&(b^sum) >= 0
}

// SubFixed returns a-b and whether it fits in int64.
func SubFixed(a, b int64) (int64, bool) {
	d, _ := bits.Sub64(uint64(a), uint64(b), 0)
	diff := int64(d)
	// Overflow when the operands differ in sign and the result's sign
	// is not a's.
	return diff, (a^b)&(a^diff) >= 0
}

// addSigned adds sign*v (sign is 1 or -1) to a, checked.
func addSigned(a, v, sign int64) (int64, bool) {
	if sign < 0 {
		return SubFixed(a, v)
	}
	return AddFixed(a, v)
}

// FixedOf converts a measure value to MeasureScale units. It refuses (ok
// false) what no valid record holds: NaN, infinities and values beyond
// MaxMeasure, whose product with the scale may not even fit in int64 (Go
// leaves such conversions undefined; amd64 yields math.MinInt64, which is
// how one record of 1e18 once showed as -922,337,203,685,477).
func FixedOf(x float64) (int64, bool) {
	if math.IsNaN(x) || math.Abs(x) > MaxMeasure {
		return 0, false
	}
	// |x| <= 1e10, so x*1e4 <= 1e14 < 2^53: exact after rounding.
	return int64(math.Round(x * MeasureScale)), true
}

// CheckDelta refuses a cell delta a store must not apply: one whose sum
// for some measure sits at the int64 limits, which is where RollupDelta
// saturates a change of contribution that does not fit in int64. (A
// genuine delta of exactly math.MaxInt64 or math.MinInt64 is refused too:
// it could not be told apart, and no cell can take it without being
// empty before.) The error is TotalOverflow for that measure.
func CheckDelta(op string, d Cell) error {
	for k, v := range d.Sums {
		if v == math.MaxInt64 || v == math.MinInt64 {
			return TotalOverflow(op, k)
		}
	}
	return nil
}

// CodeTotalOverflow is the FieldError code of TotalOverflow.
const CodeTotalOverflow = "total_overflow"

// TotalOverflow is the error for a write whose measure key would take a
// total beyond what int64 fixed point holds (or a query whose sum would):
// a 422 naming data.<key>, code total_overflow, with the largest total in
// measure units as max.
func TotalOverflow(op, key string) *Error {
	return Invalid(op, Field("data."+key, CodeTotalOverflow, "max", fmtNum(math.MaxInt64/MeasureScale)))
}
