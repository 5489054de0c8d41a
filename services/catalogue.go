package services

// The built-in template catalogue: what district bureaus report in their
// work summaries (工作总结), field by field. Bureaus edit, deactivate or
// copy these; the keys are stable.

func num(f float64) *float64 { return &f }

func opts(values ...string) []Option {
	out := make([]Option, len(values))
	for i, v := range values {
		out[i] = Option{Value: v, Label: v}
	}
	return out
}

// measure is a summed count with a unit, never negative.
func measure(key, label, labelEN, unit string) TemplateField {
	return TemplateField{Key: key, Label: label, LabelEN: labelEN, Type: FieldInteger, Unit: unit, Min: num(0),
		Max: num(10_000_000), Role: RoleMeasure}
}

// sessions is a count of events that defaults to one: a record is usually
// one activity.
func sessions(key, label, labelEN, unit string) TemplateField {
	f := measure(key, label, labelEN, unit)
	f.Default = num(1)
	return f
}

func dimension(key, label, labelEN string, required bool, values ...string) TemplateField {
	return TemplateField{Key: key, Label: label, LabelEN: labelEN, Type: FieldEnum, Required: required,
		Options: opts(values...), Role: RoleDimension}
}

func text(key, label, labelEN string, maxLength int) TemplateField {
	return TemplateField{Key: key, Label: label, LabelEN: labelEN, Type: FieldText, MaxLength: maxLength}
}

// stock is a head count of state at a date (存量): each school's latest
// value within the period, summed over schools.
func stock(key, label, labelEN, unit string) TemplateField {
	f := measure(key, label, labelEN, unit)
	f.Aggregation = AggregateLast
	return f
}

// photos is the attachments field every built-in template has.
func photos() TemplateField {
	return TemplateField{Key: "photos", Label: "照片及附件", LabelEN: "Photos and files", Type: FieldAttachments}
}

var levelOptions = []string{"国家级", "省级", "市级", "区县级", "校级"}

// BuiltinTemplates returns the catalogue installed at first start.
func BuiltinTemplates() []Template {
	school := []OrgKind{OrgSchool}
	// What a bureau also does at its own level (trainings it runs,
	// commendations it makes, its drills, aid, petitions ...) is filed for
	// the district or city unit as well as for schools.
	bureau := []OrgKind{OrgSchool, OrgDistrict, OrgCity}
	t := func(key, name, nameEN, category string, levels []OrgKind, fields ...TemplateField) Template {
		return Template{Key: key, Name: name, NameEN: nameEN, Category: category, Levels: levels, Active: true,
			Builtin: true, Version: 1, Fields: append(fields, photos())}
	}
	students := measure("students", "参与学生人次", "Students taking part", "人次")
	// A record may count several drills: the head count is per drill.
	students.Check, students.Per = CheckStudents, "drills"
	staff := measure("staff", "参与教职工人次", "Staff taking part", "人次")
	staff.Check, staff.Per = CheckStaff, "drills"
	inspectionAgencies := dimension("with_agency", "联合部门", "Joint agencies", false, "公安", "消防", "交警", "市场监管", "卫健", "应急管理")
	inspectionAgencies.Type = FieldMultiEnum
	amount := TemplateField{Key: "amount_yuan", Label: "资助金额", LabelEN: "Amount", Type: FieldNumber, Unit: "元",
		Min: num(0), Max: num(1e10), Role: RoleMeasure}
	investment := TemplateField{Key: "investment_wan", Label: "投资", LabelEN: "Investment", Type: FieldNumber, Unit: "万元",
		Min: num(0), Max: num(1e7), Role: RoleMeasure}
	area := TemplateField{Key: "area_m2", Label: "面积", LabelEN: "Floor area", Type: FieldNumber, Unit: "平方米",
		Min: num(0), Max: num(1e7), Role: RoleMeasure}
	hours := TemplateField{Key: "hours", Label: "学时", LabelEN: "Hours", Type: FieldNumber, Unit: "学时",
		Min: num(0), Max: num(10_000), Role: RoleMeasure}
	list := []Template{
		t("teacher_training", "教师培训", "Teacher training", "training", bureau,
			dimension("level", "级别", "Level", true, "国家级", "省级", "市级", "区县级", "校本"),
			dimension("mode", "形式", "Mode", false, "集中面授", "网络研修", "跟岗挂职", "外出考察", "专题讲座"),
			measure("participants", "参训人次", "Participants", "人次"),
			hours,
			sessions("sessions", "期数", "Sessions", "期"),
			// Who was trained, by name: 培训覆盖率 counts distinct
			// teachers, not records or who filed them.
			TemplateField{Key: "trainees", Label: "参训教师", LabelEN: "Teachers trained", Type: FieldPeople},
			text("organizer", "主办单位", "Organiser", 100),
			text("location", "地点", "Location", 100)),
		t("honor_award", "表彰奖励", "Honours and awards", "awards", bureau,
			dimension("level", "级别", "Level", true, levelOptions...),
			dimension("recipient_kind", "对象", "Recipient", true, "教师", "学生", "班集体", "学校"),
			dimension("category", "类别", "Category", false, "优秀教师", "优秀班主任", "师德先进", "骨干教师", "学科带头人", "教坛新秀",
				"三好学生", "优秀学生干部", "美德少年", "先进班集体", "特色学校", "示范校", "竞赛获奖", "其他"),
			dimension("rank", "等次", "Rank", false, "特等奖", "一等奖", "二等奖", "三等奖", "优秀奖", "称号"),
			sessions("count", "人数/个数", "Number honoured", "名"),
			text("issuer", "颁发单位", "Issued by", 100)),
		t("safety_drill", "应急疏散演练", "Emergency evacuation drill", "safety", bureau,
			dimension("kind", "类型", "Kind", true, "消防", "地震", "防汛", "防踩踏", "反恐防暴", "防溺水", "其他"),
			sessions("drills", "场次", "Drills", "场次"),
			students,
			staff,
			TemplateField{Key: "duration_minutes", Label: "用时（分钟）", LabelEN: "Duration (minutes)", Type: FieldInteger, Unit: "分钟", Min: num(0), Max: num(1440)},
			TemplateField{Key: "evacuation_seconds", Label: "疏散用时（秒）", LabelEN: "Evacuation time (seconds)", Type: FieldInteger, Unit: "秒", Min: num(0), Max: num(86400)},
			text("problems", "发现问题", "Problems found", 1000)),
		t("safety_inspection", "安全检查", "Safety inspection", "safety", bureau,
			dimension("kind", "类型", "Kind", true, "开学安全大检查", "校车安全", "食堂食品安全", "校舍安全", "消防设施", "周边治安", "其他"),
			inspectionAgencies,
			sessions("inspections", "次数", "Inspections", "次"),
			measure("hazards_found", "排查隐患", "Hazards found", "处"),
			measure("hazards_fixed", "整改隐患", "Hazards fixed", "处")),
		t("outreach", "送教帮扶", "Outreach and pairing", "outreach", bureau,
			dimension("kind", "类型", "Kind", true, "送教下乡", "结对帮扶", "名师送教", "专题讲座", "事迹报告会", "送教上门(特殊教育)"),
			sessions("sessions", "场次", "Sessions", "场次"),
			measure("teachers", "参与教师人次", "Teachers taking part", "人次"),
			measure("beneficiaries", "受益师生人次", "Beneficiaries", "人次"),
			text("partner", "对口单位", "Partner", 100)),
		t("teaching_research", "教研活动", "Teaching research", "research", bureau,
			dimension("kind", "类型", "Kind", true, "公开课", "同课异构", "集体备课", "课题研究", "教学比武", "晒课", "专题讲座", "名师工作室"),
			dimension("level", "级别", "Level", false, levelOptions...),
			dimension("subject", "学科", "Subject", false, "语文", "数学", "英语", "物理", "化学", "生物", "历史", "地理", "政治",
				"音乐", "体育", "美术", "信息技术", "科学", "其他"),
			sessions("sessions", "场次", "Sessions", "场次"),
			measure("participants", "参与人次", "Participants", "人次"),
			measure("awards", "获奖数", "Awards", "个"),
			// Research projects counted once however many schools
			// report on them (4项区级重点课题).
			TemplateField{Key: "project", Label: "课题名称", LabelEN: "Research project", Type: FieldText, MaxLength: 200,
				Role: RoleDistinct}),
		t("student_aid", "学生资助", "Student financial aid", "aid", bureau,
			dimension("program", "项目", "Programme", true, "学前教育资助", "义务教育寄宿生生活补助", "普通高中国家助学金", "中职免学费",
				"生源地助学贷款", "励耕计划", "社会捐助", "其他"),
			measure("students", "受助人数", "Students aided", "名"),
			amount),
		t("construction", "校舍建设", "Construction and repair", "construction", bureau,
			dimension("kind", "类型", "Kind", true, "新建", "改扩建", "维修改造", "抗震加固", "运动场改造", "校园文化建设", "信息化装备"),
			dimension("stage", "进度", "Stage", true, "立项", "方案设计", "开工建设", "主体完工", "竣工", "投入使用"),
			investment,
			area,
			measure("seats_added", "新增学位", "Seats added", "个")),
		t("arts_sports_science", "体艺科技活动", "Sports, arts and science events", "activities", bureau,
			dimension("kind", "类型", "Kind", true, "运动会", "校园足球联赛", "篮球赛", "艺术节", "合唱节", "科技创新大赛", "机器人比赛", "其他"),
			dimension("level", "级别", "Level", false, levelOptions...),
			sessions("events", "场次", "Events", "场次"),
			func() TemplateField {
				f := measure("participants", "参与学生人次", "Students taking part", "人次")
				f.Check, f.Per = CheckStudents, "events"
				return f
			}(),
			measure("awards", "获奖数", "Awards", "个")),
		t("themed_education", "主题教育", "Themed education", "education", school,
			dimension("theme", "主题", "Theme", true, "法治教育", "禁毒教育", "国防教育", "心理健康", "安全教育日", "防欺凌", "爱国主义", "传统文化"),
			sessions("sessions", "场次", "Sessions", "场次"),
			measure("participants", "参与人次", "Participants", "人次")),
		t("home_school", "家校共育", "Home-school partnership", "family", school,
			dimension("kind", "类型", "Kind", true, "家长学校", "家长会", "家访", "家长开放日", "留守儿童关爱"),
			sessions("sessions", "次数", "Sessions", "次"),
			measure("families", "覆盖家庭", "Families reached", "户")),
		// The yearly school profile (学校基本情况): stocks, not activities.
		// A school of several stages files one record per stage; a second
		// profile in a period replaces the first, never adds to it.
		t("school_profile", "学校基本情况", "School profile", "profile", school,
			dimension("stage", "学段", "Stage", false, "幼儿园", "小学", "初中", "高中", "中职", "特殊教育"),
			stock("students", "在校生", "Students enrolled", "人"),
			stock("staff", "教职工", "Staff", "人"),
			stock("teachers", "专任教师", "Full-time teachers", "人"),
			stock("classes", "班级数", "Classes", "个"),
			stock("new_students", "一年级新生", "New first-year students", "人")),
		// Titles a school holds (学校荣誉称号): held from the record that
		// grants one until a record of the same title and level says 0.
		t("school_title", "学校荣誉称号", "School titles held", "awards", school,
			dimension("title", "称号", "Title", true, "校园足球特色学校", "全国文明校园", "绿色学校", "平安校园", "依法治校示范校",
				"科技教育特色学校", "艺术教育特色学校", "体育传统项目学校", "书香校园", "心理健康教育特色学校", "劳动教育特色学校", "其他"),
			dimension("level", "级别", "Level", true, levelOptions...),
			TemplateField{Key: "year_granted", Label: "授予年份", LabelEN: "Year granted", Type: FieldInteger, Min: num(1950), Max: num(2100)},
			func() TemplateField {
				f := sessions("held", "持有（撤销填0）", "Held (0 when withdrawn)", "所")
				f.Max, f.Aggregation = num(1), AggregateState
				return f
			}(),
			text("issuer", "授予单位", "Granted by", 100)),
		t("petition", "信访办理", "Petitions handled", "petitions", bureau,
			dimension("channel", "渠道", "Channel", true, "来信来访", "12345热线", "人大建议", "政协提案", "网络留言"),
			sessions("received", "受理件数", "Received", "件"),
			measure("resolved", "办结件数", "Resolved", "件"),
			measure("satisfied", "满意件数", "Satisfied", "件")),
	}
	for i := range list {
		list[i].Summary.ZH = builtinSummary(list[i].Key)
	}
	return list
}

// builtinSummary words a built-in template's sentence in the
// work-summary draft as bureaus write it (see TemplateSummary).
func builtinSummary(key string) string {
	switch key {
	case "teacher_training":
		return "{scope}共开展{mode}教师培训{sessions}，参训{participants}，累计培训{hours}，参训教师{trainees}人，教师培训覆盖率达{staff_rate}，较上年{participants.change}。"
	case "honor_award":
		return "{scope}共获{level}表彰{count}，其中{category:count}，较上年{count.change}。"
	case "safety_drill":
		return "{scope}共开展{kind}应急疏散演练{drills}，参与学生{students}，参与教职工{staff}，较上年{drills.change}，学校覆盖率达{school_rate}。"
	case "safety_inspection":
		return "{scope}共开展{kind}安全检查{inspections}，排查隐患{hazards_found}，整改隐患{hazards_fixed}，{indicators}，较上年{inspections.change}。"
	case "outreach":
		return "{scope}共开展{kind}送教帮扶活动{sessions}，参与教师{teachers}，受益师生{beneficiaries}，较上年{sessions.change}。"
	case "teaching_research":
		return "{scope}共开展{kind}教研活动{sessions}，参与{participants}，获奖{awards}，开展课题研究{project}项，较上年{sessions.change}。"
	case "student_aid":
		return "{scope}落实{program}资助政策，资助学生{students}，发放资助金{amount_yuan}，较上年{amount_yuan.change}。"
	case "construction":
		return "{scope}实施{kind}校舍建设项目{records}个，投入资金{investment_wan}，建设面积{area_m2}，新增学位{seats_added}。"
	case "arts_sports_science":
		return "{scope}共举办{kind}体艺科技活动{events}，参与学生{participants}，获奖{awards}，较上年{events.change}。"
	case "themed_education":
		return "{scope}共开展{theme}主题教育{sessions}，参与{participants}，较上年{sessions.change}。"
	case "home_school":
		return "{scope}共开展{kind}家校共育活动{sessions}，覆盖家庭{families}，较上年{sessions.change}。"
	case "school_profile":
		return "{scope}共有在校生{students}，教职工{staff}，其中专任教师{teachers}，班级{classes}，招收一年级新生{new_students}。"
	case "school_title":
		return "{scope}现有{title:held}。"
	case "petition":
		return "{scope}共受理{channel}信访件{received}，办结{resolved}，{indicators}。"
	}
	return ""
}
