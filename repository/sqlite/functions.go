package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"

	"modernc.org/sqlite"

	"github.com/huizong/huizong/services"
)

// newDriver is the SQLite driver with huizong's SQL functions. It is a
// driver of its own, not the package-level one, so registering them
// touches no global state.
func newDriver() *sqlite.Driver {
	d := &sqlite.Driver{}
	// hz_add_sums(a, b) adds two "key:value,..." sums (see encodeSums), so a
	// cell's sums change in the same upsert as its count. A sum that would
	// not fit in int64 fails the statement (sumsOverflow), which rolls the
	// record's write back: totals are exact or the write is refused.
	d.MustRegisterDeterministicScalarFunction("hz_add_sums", 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		a, _ := args[0].(string)
		b, _ := args[1].(string)
		return addSumsText(a, b)
	})
	// hz_norm_sums(s) merges the repeated keys of concatenated sums.
	d.MustRegisterDeterministicScalarFunction("hz_norm_sums", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		a, _ := args[0].(string)
		sum, err := addSums(nil, a)
		if err != nil {
			return nil, err
		}
		return encodeSums(sum), nil
	})
	return d
}

// addSumsText adds two encoded sums and encodes the result.
func addSumsText(a, b string) (string, error) {
	switch {
	case b == "":
		return a, nil
	case a == "":
		return b, nil
	}
	sum, err := addSums(nil, a)
	if err != nil {
		return "", err
	}
	if sum, err = addSums(sum, b); err != nil {
		return "", err
	}
	return encodeSums(sum), nil
}

// sumsOverflowPrefix starts the text of a sumsOverflow error. SQLite
// hands on only the text of an SQL function's error, so the store finds
// the measure again by this prefix (overflowKey).
const sumsOverflowPrefix = "hz: sum overflows int64: "

// sumsOverflow is the error of adding sums whose total for key does not
// fit in int64.
type sumsOverflow struct{ key string }

func (e sumsOverflow) Error() string { return sumsOverflowPrefix + e.key }

// overflowKey finds the measure a sumsOverflow names in err, from the
// error itself or from the text SQLite made of it.
func overflowKey(err error) (string, bool) {
	var so sumsOverflow
	if errors.As(err, &so) {
		return so.key, true
	}
	msg := err.Error()
	i := strings.Index(msg, sumsOverflowPrefix)
	if i < 0 {
		return "", false
	}
	key := msg[i+len(sumsOverflowPrefix):]
	// Keys are lower snake_case (services.keyPattern); SQLite appends
	// the result code after them.
	end := strings.IndexFunc(key, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') })
	if end >= 0 {
		key = key[:end]
	}
	return key, key != ""
}

// overflowErr turns a sums overflow anywhere in err into the service's
// TotalOverflow (a 422 naming data.<key>) and leaves other errors alone.
func overflowErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if key, ok := overflowKey(err); ok {
		e := services.TotalOverflow(op, key)
		e.Err = err
		return e
	}
	return err
}

// connector opens connections to dsn through d.
type connector struct {
	d   *sqlite.Driver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.d }

// upsertCellsSQL adds n cell deltas in one statement.
func upsertCellsSQL(n int) string {
	return `INSERT INTO totals (district_id, status, dim, month, template, org_id, value, city_id, school, n, sums)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)` + strings.Repeat(`, (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, n-1) + `
		ON CONFLICT (district_id, status, dim, template, org_id, month, value)
		DO UPDATE SET n = n + excluded.n, sums = hz_add_sums(sums, excluded.sums)
		RETURNING status, dim, template, org_id, month, value, n`
}

// upsertDistrictSQL adds n deltas to a district's monthly sums.
func upsertDistrictSQL(n int) string {
	return `INSERT INTO totals_district (district_id, status, dim, template, month, value, city_id, n, sums, schools)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)` + strings.Repeat(`, (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, n-1) + `
		ON CONFLICT (district_id, status, dim, template, month, value)
		DO UPDATE SET n = n + excluded.n, sums = hz_add_sums(sums, excluded.sums), schools = schools + excluded.schools`
}

// maxUpsertCells is the most cells one prepared upsert takes; a record
// adds itself to its dimensions plus three cells, twice on an edit.
const maxUpsertCells = 16
