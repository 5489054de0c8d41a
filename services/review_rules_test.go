package services

import "testing"

// TestReviewRules checks who may approve (approves) and who may return or
// reopen (outranks) a record.
func TestReviewRules(t *testing.T) {
	const city, distA, distB, schoolS, schoolT = "city", "distA", "distB", "schoolS", "schoolT"
	paths := map[string][]string{
		city:    {city},
		distA:   {city, distA},
		distB:   {city, distB},
		schoolS: {city, distA, schoolS},
		schoolT: {city, distA, schoolT},
	}
	user := func(id string, role Role, org string) Principal {
		return Principal{User: User{ID: id, Role: role, OrgID: org, OrgPath: paths[org]}}
	}
	var (
		teacher    = user("teacher", RoleTeacher, schoolS)
		teacher2   = user("teacher2", RoleTeacher, schoolS)
		principalS = user("principalS", RolePrincipal, schoolS)
		principalT = user("principalT", RolePrincipal, schoolT)
		adminA     = user("adminA", RoleDistrictAdmin, distA)
		adminA2    = user("adminA2", RoleDistrictAdmin, distA)
		adminB     = user("adminB", RoleDistrictAdmin, distB)
		cityAdmin  = user("cityAdmin", RoleCityAdmin, city)
		cityAdmin2 = user("cityAdmin2", RoleCityAdmin, city)
		sysadmin   = Principal{User: User{ID: "root", Role: RoleSysadmin}}
	)
	record := func(author Principal, org string) Record {
		return Record{AuthorID: author.User.ID, AuthorRole: author.User.Role, OrgID: org, OrgPath: paths[org]}
	}
	for _, tc := range []struct {
		name              string
		p                 Principal
		r                 Record
		approve, outranks bool
	}{
		{"teacher's record: principal approves", principalS, record(teacher, schoolS), true, true},
		{"teacher's record: another teacher no", teacher2, record(teacher, schoolS), false, false},
		{"teacher's record: other school's principal no", principalT, record(teacher, schoolS), false, false},
		{"teacher's record: district returns, does not approve", adminA, record(teacher, schoolS), false, true},
		{"teacher's record: other district no", adminB, record(teacher, schoolS), false, false},
		{"principal's record: district admin approves", adminA, record(principalS, schoolS), true, true},
		{"principal's record: itself no", principalS, record(principalS, schoolS), false, false},
		{"principal's record: city returns", cityAdmin, record(principalS, schoolS), false, true},

		{"district's own record: other admin of the district approves", adminA2, record(adminA, distA), true, true},
		{"district's own record: its author no", adminA, record(adminA, distA), false, false},
		{"district's own record: admin of another district no", adminB, record(adminA, distA), false, false},
		{"district's own record: principal below no", principalS, record(adminA, distA), false, false},
		{"district's own record: city admin approves", cityAdmin, record(adminA, distA), true, true},
		{"district's own record: sysadmin approves", sysadmin, record(adminA, distA), true, true},

		{"city's own record: other city admin approves", cityAdmin2, record(cityAdmin, city), true, true},
		{"city's own record: its author no", cityAdmin, record(cityAdmin, city), false, false},
		{"city's own record: district admin no", adminA, record(cityAdmin, city), false, false},
		{"city's own record: sysadmin approves", sysadmin, record(cityAdmin, city), true, true},
		{"city's record for a district: that district's admin approves", adminA, record(cityAdmin, distA), true, true},
		{"city's record for a district: another district no", adminB, record(cityAdmin, distA), false, false},

		{"district's record for school S: principal of S approves", principalS, record(adminA, schoolS), true, true},
		{"district's record for school S: principal of another school no", principalT, record(adminA, schoolS), false, false},
		{"district's record for school S: teacher of S no", teacher, record(adminA, schoolS), false, false},
		{"district's record for school S: other admin of the district approves", adminA2, record(adminA, schoolS), true, true},
		{"district's record for school S: its author no", adminA, record(adminA, schoolS), false, false},
		{"district's record for school S: another district no", adminB, record(adminA, schoolS), false, false},
		{"district's record for school S: city admin approves", cityAdmin, record(adminA, schoolS), true, true},
		{"city's record for school S: principal of S approves", principalS, record(cityAdmin, schoolS), true, true},
		{"city's record for school S: the district above approves", adminA, record(cityAdmin, schoolS), true, true},
		{"city's record for school S: another district no", adminB, record(cityAdmin, schoolS), false, false},
		{"sysadmin's record: nobody else but a sysadmin", cityAdmin, record(sysadmin, distA), false, false},
		{"sysadmin reviews anything", sysadmin, record(teacher, schoolS), true, true},
		{"sysadmin never its own", sysadmin, Record{AuthorID: "root", AuthorRole: RoleSysadmin, OrgID: city, OrgPath: paths[city]}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := approves(tc.p, tc.r); got != tc.approve {
				t.Errorf("approves = %v, want %v", got, tc.approve)
			}
			if got := outranks(tc.p, tc.r); got != tc.outranks {
				t.Errorf("outranks = %v, want %v", got, tc.outranks)
			}
		})
	}
}
