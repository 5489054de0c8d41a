package sqlite

import (
	"context"
	"database/sql/driver"
	"strings"

	"modernc.org/sqlite"
)

// newDriver is the SQLite driver with huizong's SQL functions. It is a
// driver of its own, not the package-level one, so registering them
// touches no global state.
func newDriver() *sqlite.Driver {
	d := &sqlite.Driver{}
	// hz_add_sums(a, b) adds two "key:value,..." sums (see encodeSums), so a
	// cell's sums change in the same upsert as its count.
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
