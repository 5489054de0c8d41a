package services

import (
	"context"
	"time"
)

// Indicator is a ratio a bureau quotes (DHIS2's indicators): 满意率, 办结率,
// 隐患整改率, 生均, 覆盖率. Value = numerator / denominator × Factor, each
// side a sum of terms:
//
//	<template>.<measure>[dim=value|value,...]  a measure's sum, optionally of
//	                                           the records with those values
//	<template>.records[...]                    the number of records
//	people(<template>.<field>)                 distinct persons of a people field
//	schools(<template>)[...]                   schools with such records
//	org.students, org.staff, org.schools       the unit's figures (headcounts
//	org.schools[stage=小学]                    from the latest school profiles)
type Indicator struct {
	Key         string
	Name        string
	NameEN      string
	Description string
	// OwnerID is the unit that defined it ("" for a built-in); OwnerPath
	// its path. Indicators are visible like templates.
	OwnerID     string
	OwnerPath   []string
	Numerator   []string
	Denominator []string
	// Factor scales the ratio (100 for a percentage); Unit names what the
	// value is in; Decimals is how it is rounded.
	Factor    float64
	Unit      string
	Decimals  int
	Builtin   bool
	Version   int64
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// IndicatorStore keeps indicator definitions.
type IndicatorStore interface {
	// CreateIndicator inserts ind; ErrConflict if its key is taken.
	CreateIndicator(ctx context.Context, ind Indicator) error
	// Indicator returns key if v may see it (as for templates).
	Indicator(ctx context.Context, v TemplateView, key string) (Indicator, error)
	// Indicators lists the indicators v may see, in key order (keyset on
	// key > p.After).
	Indicators(ctx context.Context, v TemplateView, p Page) ([]Indicator, error)
}

// BuiltinIndicators are installed at first start.
func BuiltinIndicators() []Indicator {
	pct := func(key, name, nameEN, desc string, num, den string) Indicator {
		return Indicator{Key: key, Name: name, NameEN: nameEN, Description: desc, Numerator: []string{num},
			Denominator: []string{den}, Factor: 100, Unit: "%", Decimals: 1, Builtin: true, Version: 1}
	}
	return []Indicator{
		pct("teacher_training_coverage", "教师培训覆盖率", "Teacher training coverage",
			"参训教师（去重）占教职工总数的比例", "people(teacher_training.trainees)", "org.staff"),
		pct("drill_school_coverage", "应急演练学校覆盖率", "Schools holding drills",
			"开展应急疏散演练的学校占学校总数的比例", "schools(safety_drill)", "org.schools"),
		pct("petition_resolution_rate", "信访办结率", "Petitions resolved",
			"办结件数占受理件数的比例", "petition.resolved", "petition.received"),
		pct("petition_satisfaction_rate", "信访满意率", "Petitioners satisfied",
			"满意件数占办结件数的比例", "petition.satisfied", "petition.resolved"),
		pct("hazard_fix_rate", "安全隐患整改率", "Hazards fixed",
			"整改隐患占排查隐患的比例", "safety_inspection.hazards_fixed", "safety_inspection.hazards_found"),
		{Key: "aid_per_student", Name: "生均资助金额", NameEN: "Aid per student aided", Description: "资助金额除以受助人数",
			Numerator: []string{"student_aid.amount_yuan"}, Denominator: []string{"student_aid.students"},
			Factor: 1, Unit: "元", Decimals: 0, Builtin: true, Version: 1},
	}
}
