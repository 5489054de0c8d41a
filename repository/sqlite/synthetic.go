package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/huizong/huizong/services"
)

// LoadSynthetic writes a synthetic city into an empty store, for
// benchmarks (the totals and export benchmarks load it): 1 city, 5
// districts of 40 schools each, the 12 built-in templates and n approved
// records spread over the school years 2022 to 2024, each school's
// profile of each year among the last ones, each record with its
// contribution to the totals cells applied exactly as CreateRecord applies
// it, in transactions of 10,000 records. The data is fixed by n (a seeded
// generator): two loads of the same n write the same rows. The records'
// authors and people ("d0s01-u7") are ids only: no user is created. It
// is not for a store that holds anything else, and a store of 1,000,000
// records takes minutes to load.
func (s *Store) LoadSynthetic(ctx context.Context, n int) error {
	now := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	city := services.Org{ID: "city", Kind: services.OrgCity, Name: "市", Path: []string{"city"}, Version: 1}
	if err := s.CreateOrg(ctx, city); err != nil {
		return err
	}
	var schools []services.Org
	for d := range 5 {
		dist := services.Org{ID: fmt.Sprintf("d%d", d), Kind: services.OrgDistrict, Name: fmt.Sprintf("区%d", d),
			ParentID: "city", Path: []string{"city", fmt.Sprintf("d%d", d)}, Version: 1}
		if err := s.CreateOrg(ctx, dist); err != nil {
			return err
		}
		for i := range 40 {
			id := fmt.Sprintf("d%ds%02d", d, i)
			sc := services.Org{ID: id, Kind: services.OrgSchool, Name: "学校" + id, ParentID: dist.ID,
				Path: []string{"city", dist.ID, id}, Stages: []string{"小学"}, Students: 1200, Staff: 90, Version: 1}
			if err := s.CreateOrg(ctx, sc); err != nil {
				return err
			}
			schools = append(schools, sc)
		}
	}
	templates := services.BuiltinTemplates()
	for i := range templates {
		templates[i].Version, templates[i].CreatedAt, templates[i].UpdatedAt = 1, now, now
		if err := s.CreateTemplate(ctx, templates[i]); err != nil {
			return err
		}
	}
	// Activities at random; stocks as schools file them: one profile per
	// school and school year (added after the activities).
	var flows []services.Template
	for _, t := range templates {
		if !t.HasStock() {
			flows = append(flows, t)
		}
	}
	profile := slices.IndexFunc(templates, func(t services.Template) bool { return t.Key == services.ProfileTemplate })
	rng := rand.New(rand.NewPCG(2025, 9))
	days := int(time.Date(2025, 8, 31, 0, 0, 0, 0, time.UTC).Sub(time.Date(2022, 9, 1, 0, 0, 0, 0, time.UTC)).Hours() / 24)
	const batch = 10_000
	for done := 0; done < n; done += batch {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			for i := done; i < min(done+batch, n); i++ {
				t := flows[rng.IntN(len(flows))]
				school := schools[rng.IntN(len(schools))]
				day := time.Date(2022, 9, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(days+1))
				if i >= n-len(schools)*3 {
					// The last records: each school's profile of each year.
					k := n - 1 - i
					t, school = templates[profile], schools[k%len(schools)]
					day = time.Date(2022+k/len(schools), 9, 30, 0, 0, 0, 0, time.UTC)
				}
				data := map[string]any{}
				for _, f := range t.Fields {
					switch {
					case f.Role == services.RoleDimension && len(f.Options) > 0 && (f.Required || rng.IntN(3) > 0):
						data[f.Key] = f.Options[rng.IntN(len(f.Options))].Value
					case f.Role == services.RoleMeasure:
						data[f.Key] = rng.IntN(200)
					case f.Type == services.FieldPeople:
						// A few of the school's 60 staff trained together.
						var ids []string
						for range 1 + rng.IntN(8) {
							ids = append(ids, fmt.Sprintf("%s-u%d", school.ID, rng.IntN(60)))
						}
						data[f.Key] = ids
					}
				}
				raw, _ := json.Marshal(data)
				r := services.Record{ID: fmt.Sprintf("r%08d", i), ClientID: fmt.Sprintf("c%08d", i), Template: t.Key,
					TemplateVersion: 1, OrgID: school.ID, OrgPath: school.Path, AuthorID: fmt.Sprintf("%s-u%d", school.ID, rng.IntN(60)),
					AuthorRole: services.RoleTeacher, OccurredOn: day.Format("2006-01-02"), Title: t.Name, Data: raw,
					Status: services.StatusApproved, Version: 2, CreatedAt: now, UpdatedAt: now, SubmittedAt: now}
				r.Rollup = services.RollupOf(r, t)
				rollup, err := encodeRollup(r.Rollup)
				if err != nil {
					return err
				}
				if _, err := s.execTx(ctx, tx, insertRecordSQL, r.ID, r.ClientID, r.AuthorID, string(r.AuthorRole), r.Template,
					r.TemplateVersion, r.OrgID, toJSON(r.OrgPath), r.OccurredOn, "", r.Title, "", string(raw), "[]",
					string(r.Status), "[]", "", "", nil, "", "", "", r.Version, msOf(now), unixMs(now), nil, msOf(now), rollup, "[]"); err != nil {
					return err
				}
				if err := s.insertRecordScope(ctx, tx, r.ID, r.Template, r.OrgPath, unixMs(now)); err != nil {
					return err
				}
				if err := s.applyCells(ctx, tx, services.RollupDelta(services.Rollup{}, r.Rollup)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	_, err := s.w.ExecContext(ctx, `ANALYZE`)
	return err
}
