package services

import (
	"encoding/csv"
	"io"
	"regexp"
	"strings"
)

type ImportRow struct {
	Line                                   int
	Name, Mobile, Role, School             string
	Username, Password                     string
}

var mobileRE = regexp.MustCompile(`^1[3-9]\d{9}$`)

func NormalizeMobile(s string) (string, bool) {
	s = strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "+86")
	if len(s) == 13 {
		s = strings.TrimPrefix(s, "86")
	}
	return s, mobileRE.MatchString(s)
}

func ParseRole(s string) (Role, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "教师", "老师", "teacher":
		return RoleTeacher, true
	case "校长", "园长", "学校管理员", "principal":
		return RolePrincipal, true
	}
	return "", false
}

func ReadImportFile(r io.Reader, filename string, maxRows int) ([]ImportRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, err
	}
	var rows []ImportRow
	for i, rec := range recs[1:] {
		if len(rec) < 4 {
			continue
		}
		rows = append(rows, ImportRow{Line: i + 2, Name: rec[0], Mobile: rec[1], Role: rec[2], School: rec[3]})
	}
	return rows, nil
}
