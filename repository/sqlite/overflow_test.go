package sqlite

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/huizong/huizong/services"
)

// TestOverflowAddSums: the sums SQL adds are exact up to the int64
// limits and an error beyond, never wrapped.
func TestOverflowAddSums(t *testing.T) {
	maxS, minS := fmt.Sprint(int64(math.MaxInt64)), fmt.Sprint(int64(math.MinInt64))
	tests := []struct {
		a, b, want string
		over       string // the key that overflows, "" for none
	}{
		{"count:" + fmt.Sprint(int64(math.MaxInt64-1)), "count:1", "count:" + maxS, ""},
		{"count:" + maxS, "count:1", "", "count"},
		{"count:" + minS, "count:-1", "", "count"},
		{"count:" + minS, "count:" + maxS, "count:-1", ""},
		{"a:1,count:" + maxS, "a:2,count:" + maxS, "", "count"},
		{"a:" + maxS + ",a:-1", "a:1", "a:" + maxS, ""},
	}
	for _, tt := range tests {
		got, err := addSumsText(tt.a, tt.b)
		key, over := "", false
		if err != nil {
			key, over = overflowKey(err)
		}
		switch {
		case tt.over == "" && (err != nil || got != tt.want):
			t.Errorf("addSumsText(%q, %q) = %q, %v; want %q", tt.a, tt.b, got, err, tt.want)
		case tt.over != "" && (!over || key != tt.over):
			t.Errorf("addSumsText(%q, %q) = %q, %v; want an overflow of %s", tt.a, tt.b, got, err, tt.over)
		}
	}
}

// TestOverflowSQLFunctions runs the SQL functions through the driver,
// which keeps only the text of their errors: the store still finds the
// measure and answers TotalOverflow.
func TestOverflowSQLFunctions(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	maxS := fmt.Sprint(int64(math.MaxInt64))
	for _, q := range []string{
		`SELECT hz_add_sums('count:` + maxS + `', 'count:1')`,
		`SELECT hz_norm_sums('count:` + maxS + `,count:1')`,
	} {
		var out string
		err := s.r.QueryRowContext(ctx, q).Scan(&out)
		if err == nil {
			t.Fatalf("%s = %q, want an error", q, out)
		}
		var se *services.Error
		if !errors.As(overflowErr("test", err), &se) || se.Kind != services.KindInvalid ||
			len(se.Fields) != 1 || se.Fields[0].Field != "data.count" || se.Fields[0].Code != "total_overflow" {
			t.Errorf("%s: %v maps to %v, want TotalOverflow of data.count", q, err, overflowErr("test", err))
		}
	}
	var out string
	if err := s.r.QueryRowContext(ctx, `SELECT hz_add_sums('count:`+fmt.Sprint(int64(math.MaxInt64-1))+`', 'count:1')`).Scan(&out); err != nil || out != "count:"+maxS {
		t.Errorf("hz_add_sums up to the limit = %q, %v", out, err)
	}
	if err := overflowErr("test", errors.New("something else")); overflowKeyOf(err) {
		t.Errorf("an unrelated error became %v", err)
	}
}

func overflowKeyOf(err error) bool {
	var se *services.Error
	return errors.As(err, &se)
}
