package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/huizong/huizong/configs"
	"github.com/huizong/huizong/handlers"
	"github.com/huizong/huizong/services"
)

// demo is huizong demo: a realistic city in the configured store, through
// the same services the API uses (every record validated, reviewed by
// the right person, totals kept as submissions keep them): a city with
// two districts of schools and kindergartens of every stage, headcounts,
// principals and teachers, two school years of records across the
// built-in templates at the scale of a district's work summary, school
// profiles, trainees, a district's own extension and two collection
// tasks. It refuses a store that holds anything unless force is set.
func demo(ctx context.Context, cfg configs.Config, log *slog.Logger, schoolsPerDistrict int, force bool, stdout, stderr io.Writer) error {
	st, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer st.Close()
	if n, err := st.CountOrgs(ctx, services.ScopeAll(), services.OrgQuery{}); err != nil {
		return err
	} else if n > 0 && !force {
		return errors.New("the store already holds org units; huizong demo loads into an empty store (add --force to load beside them)")
	}
	a, err := newApp(ctx, cfg, st, log, stdout, options{})
	if err != nil {
		return err
	}
	admin, err := st.UserByLogin(ctx, "admin")
	if err != nil {
		return fmt.Errorf("the first sysadmin account: %w", err)
	}
	tag, codeBase, mobiles := "", 510, 13600000000
	if force {
		// Beside another load: other usernames, school codes and mobiles.
		tag, codeBase = string(rune('a'+mrand.IntN(26)))+string(rune('a'+mrand.IntN(26))), 600+mrand.IntN(300)
		mobiles = 13700000000 + 10000*mrand.IntN(90000)
	}
	d := &demoLoader{tag: tag, codeBase: codeBase, mobiles: mobiles, svc: a.svc, st: st, sys: services.Principal{User: admin}, rng: mrand.New(mrand.NewPCG(2025, 9)),
		cal: calendarOf(cfg), loc: cfg.Location, now: time.Now().In(cfg.Location), password: demoPassword(),
		progress: newProgress(stderr, "loading the demo city")}
	if err := d.load(ctx, schoolsPerDistrict); err != nil {
		return err
	}
	d.progress.done()
	fmt.Fprintf(stdout, `
  Demo city loaded: %d units, %d accounts, %d records (two school years, %d with a photo).
  Every demo account has the password: %s   (shown once)
  Try:  %-16s (district admin of 城区: totals, indicators, exports, tasks)
        %-16s (principal: reviews the school's records)
        %-16s (teacher: files records from the phone)
  Next: huizong serve   then open http://localhost%s/swagger/index.html and sign in.
`, d.units, d.accounts, d.records, d.photos, d.password, d.logins[0], d.logins[1], d.logins[2], cfg.Addr)
	return nil
}

// demoPassword is one password for every demo account.
func demoPassword() string {
	const letters = "abcdefghjkmnpqrstuvwxyz"
	var b strings.Builder
	b.WriteString("Demo-")
	for range 8 {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(letters))))
		b.WriteByte(letters[n.Int64()])
	}
	b.WriteString("-2025")
	return b.String()
}

type demoLoader struct {
	// tag and codeBase keep a second load's usernames and school codes
	// apart from the first's.
	tag      string
	codeBase int
	mobiles  int
	svc      handlers.Services
	st       store
	sys      services.Principal
	rng      *mrand.Rand
	cal      services.Calendar
	loc      *time.Location
	now      time.Time
	password string
	progress *progress

	units, accounts, records, photos int
	logins                           []string
}

// demoSchool is a school of the demo city with the accounts that file
// and review its records.
type demoSchool struct {
	org       services.Org
	bureau    services.Principal // the district admin above
	principal services.Principal
	teachers  []services.Principal
	staffIDs  []string
}

func (d *demoLoader) org(ctx context.Context, kind services.OrgKind, name, parent, code string, stages []string, students, staff int) (services.Org, error) {
	in := services.OrgInput{Kind: kind, Name: &name, ParentID: parent}
	if code != "" {
		in.Code = &code
	}
	if stages != nil {
		in.Stages, in.Students, in.Staff = &stages, &students, &staff
	}
	o, err := d.svc.Orgs.Create(ctx, d.sys, in)
	if err != nil {
		return services.Org{}, fmt.Errorf("demo: org %s: %w", name, err)
	}
	d.units++
	return o, nil
}

// user creates an account with the demo password that may work at once.
func (d *demoLoader) user(ctx context.Context, username, name string, role services.Role, orgID, mobile string) (services.Principal, error) {
	nu, err := d.svc.Users.Create(ctx, d.sys, services.UserInput{Username: username, Name: &name, Role: &role, OrgID: orgID,
		Mobile: &mobile, Password: d.password})
	if err != nil {
		return services.Principal{}, fmt.Errorf("demo: user %s: %w", username, err)
	}
	u := nu.User
	u.MustChangePassword = false // a demo account is for trying at once
	if u, err = d.st.UpdateUser(ctx, services.ScopeAll(), u); err != nil {
		return services.Principal{}, err
	}
	d.accounts++
	return services.Principal{User: u}, nil
}

var (
	demoDistricts = []struct{ name, code, short string }{{"城区", "cq", "城区"}, {"新区", "xq", "新区"}}
	demoKinds     = []struct {
		suffix string
		stages []string
		pupils int
	}{
		{"幼儿园", []string{"幼儿园"}, 320}, {"小学", []string{"小学"}, 1200}, {"小学", []string{"小学"}, 900},
		{"中学", []string{"初中"}, 1100}, {"中学", []string{"初中", "高中"}, 1800}, {"学校", []string{"九年一贯制"}, 1500},
	}
	demoSurnames = []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭"}
	demoGiven    = []string{"芳", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "霞", "平", "刚"}
)

func (d *demoLoader) name() string {
	return demoSurnames[d.rng.IntN(len(demoSurnames))] + demoGiven[d.rng.IntN(len(demoGiven))] + demoGiven[d.rng.IntN(len(demoGiven))]
}

func (d *demoLoader) load(ctx context.Context, perDistrict int) error {
	city, err := d.org(ctx, services.OrgCity, "示范市", "", "", nil, 0, 0)
	if err != nil {
		return err
	}
	var schools []demoSchool
	var admins []services.Principal
	var districts []services.Org
	mobile := d.mobiles
	next := func() string { mobile++; return fmt.Sprint(mobile) }
	// The city bureau reviews what its districts file themselves.
	cityAdmin, err := d.user(ctx, d.tag+"city.admin", "示范市教育局"+d.name(), services.RoleCityAdmin, city.ID, next())
	if err != nil {
		return err
	}
	total := len(demoDistricts) * perDistrict
	for di, dd := range demoDistricts {
		dist, err := d.org(ctx, services.OrgDistrict, dd.name, city.ID, "", nil, 0, 0)
		if err != nil {
			return err
		}
		admin, err := d.user(ctx, d.tag+dd.code+".admin", dd.name+"教育局"+d.name(), services.RoleDistrictAdmin, dist.ID, next())
		if err != nil {
			return err
		}
		admins = append(admins, admin)
		districts = append(districts, dist)
		if di == 0 {
			d.logins = append(d.logins, admin.User.Username)
		}
		for i := range perDistrict {
			k := demoKinds[i%len(demoKinds)]
			name := fmt.Sprintf("%s第%s%s", dd.short, chineseNumber(i/len(demoKinds)+1), k.suffix)
			if i%len(demoKinds) == 2 {
				name = fmt.Sprintf("%s实验%s(%d)", dd.short, k.suffix, i/len(demoKinds)+1)
			}
			pupils := k.pupils + d.rng.IntN(k.pupils/3)
			staff := pupils/14 + d.rng.IntN(10)
			code := fmt.Sprintf("2%03d%06d", d.codeBase+di, 100000+i)
			o, err := d.org(ctx, services.OrgSchool, name, dist.ID, code, k.stages, pupils, staff)
			if err != nil {
				return err
			}
			sc := demoSchool{org: o, bureau: admin}
			prefix := fmt.Sprintf("%s%s%02d", d.tag, dd.code, i+1)
			if sc.principal, err = d.user(ctx, prefix+".head", d.name(), services.RolePrincipal, o.ID, next()); err != nil {
				return err
			}
			sc.staffIDs = append(sc.staffIDs, sc.principal.User.ID)
			for t := range 3 {
				tp, err := d.user(ctx, fmt.Sprintf("%s.t%d", prefix, t+1), d.name(), services.RoleTeacher, o.ID, next())
				if err != nil {
					return err
				}
				sc.teachers = append(sc.teachers, tp)
				sc.staffIDs = append(sc.staffIDs, tp.User.ID)
			}
			// The rest of the staff, so the people on training records
			// and coverage read like a school's.
			if err := d.staff(ctx, &sc, prefix, staff-len(sc.staffIDs), next); err != nil {
				return err
			}
			if di == 0 && i == min(1, perDistrict-1) {
				d.logins = append(d.logins, sc.principal.User.Username, sc.teachers[0].User.Username)
			}
			schools = append(schools, sc)
			d.progress.update(len(schools), total*3)
		}
	}
	// 城区's own category of honours.
	if _, err := d.svc.Templates.Extend(ctx, admins[0], "honor_award", 0, services.ExtensionInput{
		Options: map[string][]services.Option{"category": {{Value: "诚信好少年", Label: "诚信好少年"}, {Value: "书写小标兵", Label: "书写小标兵"}}}}); err != nil {
		return fmt.Errorf("demo: extension: %w", err)
	}
	year := d.cal.SchoolYearOf(d.now, d.loc)
	prevYear, _ := d.cal.Previous(year.ID)
	for y, pd := range []services.Period{prevYear, year} {
		for i, sc := range schools {
			if err := d.schoolYear(ctx, sc, pd, y); err != nil {
				return err
			}
			d.progress.update(total+y*total+i+1, total*3)
		}
		for i, dist := range districts {
			if err := d.bureauYear(ctx, dist, admins[i], cityAdmin, pd); err != nil {
				return err
			}
		}
	}
	// Two collection tasks of 城区: drills this year (most schools done),
	// and this month's home visits (most missing).
	first := admins[0]
	if _, err := d.svc.Tasks.Create(ctx, first, services.TaskInput{Name: "本学年应急疏散演练", Templates: []string{"safety_drill"},
		Period: year.ID, DueOn: year.To, MinPerSchool: ptrInt(2), Note: "每校每学年不少于2次"}); err != nil {
		return fmt.Errorf("demo: task: %w", err)
	}
	if _, err := d.svc.Tasks.Create(ctx, first, services.TaskInput{Name: "本月家访工作", Templates: []string{"home_school"},
		Period: d.now.Format("200601"), DueOn: d.now.Format(time.DateOnly), MinPerSchool: ptrInt(3)}); err != nil {
		return fmt.Errorf("demo: task: %w", err)
	}
	return nil
}

func ptrInt(n int) *int { return &n }

func chineseNumber(n int) string {
	digits := []string{"零", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十"}
	if n <= 10 {
		return digits[n]
	}
	if n < 20 {
		return "十" + digits[n-10]
	}
	return digits[n/10] + "十" + strings.TrimPrefix(digits[n%10], "零")
}

// day is a random day of pd up to today.
func (d *demoLoader) day(pd services.Period) string {
	from, _ := time.Parse(time.DateOnly, pd.From)
	to, _ := time.Parse(time.DateOnly, pd.To)
	today, _ := time.Parse(time.DateOnly, d.now.Format(time.DateOnly))
	if to.After(today) {
		to = today
	}
	span := int(to.Sub(from).Hours()/24) + 1
	if span < 1 {
		return pd.From
	}
	return from.AddDate(0, 0, d.rng.IntN(span)).Format(time.DateOnly)
}

// file has a teacher (or the principal) file a record and its reviewer
// decide: most approved, some returned, some left pending.
func (d *demoLoader) file(ctx context.Context, sc demoSchool, byPrincipal bool, template, title, day string, data map[string]any) error {
	if day > d.now.Format(time.DateOnly) {
		return nil
	}
	author, reviewer := sc.teachers[d.rng.IntN(len(sc.teachers))], sc.principal
	if byPrincipal {
		author, reviewer = sc.principal, sc.bureau // the district approves its principals' records
	}
	return d.fileAs(ctx, author, reviewer, "", template, title, day, data)
}

// fileAs has author file a record (for unit org, "" for the author's
// own) and reviewer decide; a fifth of them come with a photo from the
// phone.
func (d *demoLoader) fileAs(ctx context.Context, author, reviewer services.Principal, org, template, title, day string, data map[string]any) error {
	if d.rng.IntN(5) == 0 {
		a, _, err := d.svc.Attachments.Create(ctx, author, services.Upload{Name: title + "现场照片.jpg", Content: d.photo()})
		if err != nil {
			return fmt.Errorf("demo: photo: %w", err)
		}
		data["photos"] = []string{a.ID}
		d.photos++
	}
	raw, _ := json.Marshal(data)
	r, _, err := d.svc.Records.Create(ctx, author, services.RecordInput{Template: template, OrgID: org, OccurredOn: day, Title: title, Data: raw})
	if err != nil {
		return fmt.Errorf("demo: %s record for %s: %w", template, author.User.OrgID, err)
	}
	d.records++
	switch x := d.rng.IntN(20); {
	case x == 0:
		_, err = d.svc.Records.Return(ctx, reviewer, r.ID, r.Version, "请补充现场照片和参与人数")
	case x == 1:
		// left for the reviewer
	default:
		_, err = d.svc.Records.Approve(ctx, reviewer, r.ID, r.Version, "")
	}
	return err
}

// schoolYear files one school's records of a school year at the scale
// of a district's work summary (~300 drills a year over ~50 schools).
func (d *demoLoader) schoolYear(ctx context.Context, sc demoSchool, pd services.Period, y int) error {
	kindergarten := sc.org.Stages[0] == "幼儿园"
	pick := func(opts ...string) string { return opts[d.rng.IntN(len(opts))] }
	// The profile of the year, filed at the start of term.
	pupils := sc.org.Students + y*d.rng.IntN(40)
	stage := map[string]string{"幼儿园": "幼儿园", "小学": "小学", "初中": "初中", "高中": "高中"}[sc.org.Stages[0]]
	if stage == "" {
		stage = "小学" // a nine-year school files as a primary school
	}
	profile := map[string]any{"stage": stage, "students": pupils, "staff": sc.org.Staff, "teachers": sc.org.Staff * 4 / 5,
		"classes": pupils / 45, "new_students": pupils / 6}
	if err := d.file(ctx, sc, true, "school_profile", "学校基本情况", nextDay(pd.From, 20), profile); err != nil {
		return err
	}
	for range 5 + d.rng.IntN(3) {
		n := 1 + d.rng.IntN(2)
		if err := d.file(ctx, sc, false, "safety_drill", "应急疏散演练", d.day(pd), map[string]any{"kind": pick("消防", "消防", "地震", "防汛", "防踩踏", "防溺水"),
			"drills": n, "students": n * (sc.org.Students - d.rng.IntN(50)), "staff": n * sc.org.Staff, "evacuation_seconds": 90 + d.rng.IntN(120)}); err != nil {
			return err
		}
	}
	// Training: the whole staff once, a few teachers again.
	if err := d.file(ctx, sc, true, "teacher_training", "全体教师校本培训", d.day(pd), map[string]any{"level": "校本", "mode": "专题讲座",
		"participants": sc.org.Staff, "hours": 4, "trainees": sc.staffIDs}); err != nil {
		return err
	}
	for range 2 {
		who := sc.staffIDs[1+d.rng.IntN(len(sc.staffIDs)-1)]
		if err := d.file(ctx, sc, false, "teacher_training", "外出培训", d.day(pd), map[string]any{"level": pick("市级", "区县级", "省级"),
			"mode": pick("集中面授", "网络研修", "跟岗挂职"), "participants": 1, "hours": 8 + d.rng.IntN(30), "trainees": []string{who}}); err != nil {
			return err
		}
	}
	categories := []string{"优秀班主任", "优秀教师", "三好学生", "先进班集体", "优秀学生干部"}
	if strings.HasPrefix(sc.org.Name, "城区") { // 城区's own categories
		categories = append(categories, "诚信好少年", "书写小标兵")
	}
	for range 3 + d.rng.IntN(3) {
		cat := categories[d.rng.IntN(len(categories))]
		recipient := "教师"
		if strings.Contains("三好学生优秀学生干部诚信好少年书写小标兵", cat) {
			recipient = "学生"
		} else if cat == "先进班集体" {
			recipient = "班集体"
		}
		if err := d.file(ctx, sc, false, "honor_award", cat, d.day(pd), map[string]any{"level": pick("市级", "区县级", "区县级", "校级"),
			"recipient_kind": recipient, "category": cat, "count": 1 + d.rng.IntN(3)}); err != nil {
			return err
		}
	}
	if err := d.file(ctx, sc, true, "safety_inspection", "开学安全大检查", nextDay(pd.From, 5), map[string]any{"kind": "开学安全大检查",
		"inspections": 1, "hazards_found": 2 + d.rng.IntN(4), "hazards_fixed": 2 + d.rng.IntN(3)}); err != nil {
		return err
	}
	if !kindergarten {
		if err := d.file(ctx, sc, false, "teaching_research", "区级课题研究", d.day(pd), map[string]any{"kind": "课题研究", "level": "区县级",
			"subject": pick("语文", "数学", "英语"), "project": pick("“双减”背景下作业设计研究", "劳动教育课程开发", "大单元教学实践", "课堂提问有效性研究"),
			"sessions": 2, "participants": 12}); err != nil {
			return err
		}
		if err := d.file(ctx, sc, false, "themed_education", "主题教育", d.day(pd), map[string]any{"theme": pick("法治教育", "禁毒教育", "心理健康", "防欺凌"),
			"sessions": 1, "participants": sc.org.Students}); err != nil {
			return err
		}
	}
	for range 2 {
		if err := d.file(ctx, sc, false, "home_school", "家访", d.day(pd), map[string]any{"kind": pick("家访", "家长会", "家长学校"),
			"sessions": 1 + d.rng.IntN(5), "families": 20 + d.rng.IntN(200)}); err != nil {
			return err
		}
	}
	if kindergarten {
		if err := d.file(ctx, sc, true, "student_aid", "学前教育资助", d.day(pd), map[string]any{"program": "学前教育资助",
			"students": 10 + d.rng.IntN(20), "amount_yuan": float64(500 * (10 + d.rng.IntN(20)))}); err != nil {
			return err
		}
	}
	if d.rng.IntN(6) == 0 {
		if err := d.file(ctx, sc, true, "construction", "校舍改造", d.day(pd), map[string]any{"kind": pick("改扩建", "维修改造", "运动场改造"),
			"stage": "竣工", "investment_wan": float64(50 + d.rng.IntN(400)), "area_m2": float64(500 + d.rng.IntN(3000)), "seats_added": 45 * d.rng.IntN(8)}); err != nil {
			return err
		}
	}
	if !kindergarten && d.rng.IntN(3) == 0 {
		if err := d.file(ctx, sc, false, "outreach", "送教下乡", d.day(pd), map[string]any{"kind": pick("送教下乡", "结对帮扶", "名师送教"),
			"sessions": 1 + d.rng.IntN(3), "teachers": 2 + d.rng.IntN(6), "beneficiaries": 40 + d.rng.IntN(200), "partner": "乡村学校"}); err != nil {
			return err
		}
	}
	// A title granted in the first year is held in the second as well.
	if y == 0 && d.rng.IntN(4) == 0 {
		if err := d.file(ctx, sc, true, "school_title", "荣誉称号", nextDay(pd.From, 60), map[string]any{
			"title": pick("校园足球特色学校", "绿色学校", "书香校园", "平安校园"), "level": pick("市级", "区县级", "省级"),
			"year_granted": yearOf(pd.From), "held": 1}); err != nil {
			return err
		}
	}
	if err := d.file(ctx, sc, false, "arts_sports_science", "校运会", d.day(pd), map[string]any{"kind": pick("运动会", "艺术节", "科技创新大赛"),
		"level": "校级", "events": 1, "participants": sc.org.Students / 2}); err != nil {
		return err
	}
	return nil
}

// staff adds n teacher accounts to school sc in one write, with the
// demo password (the principal's hash: hashing thousands of passwords
// one by one would take minutes).
func (d *demoLoader) staff(ctx context.Context, sc *demoSchool, prefix string, n int, mobile func() string) error {
	now := time.Now().UTC()
	var users []services.User
	for k := range n {
		users = append(users, services.User{ID: services.NewID(now), Username: fmt.Sprintf("%s.s%03d", prefix, k+1), Name: d.name(),
			Mobile: mobile(), Role: services.RoleTeacher, OrgID: sc.org.ID, OrgPath: sc.org.Path,
			PasswordHash: sc.principal.User.PasswordHash, PasswordChangedAt: now, Version: 1, CreatedAt: now, UpdatedAt: now})
	}
	if len(users) == 0 {
		return nil
	}
	if err := d.st.CreateUsers(ctx, users); err != nil {
		return fmt.Errorf("demo: staff of %s: %w", sc.org.Name, err)
	}
	for _, u := range users {
		sc.staffIDs = append(sc.staffIDs, u.ID)
	}
	d.accounts += n
	return nil
}

// bureauYear files a district's own figures of a school year: the
// petitions it handled (信访) by channel and its own commendations; the
// city bureau reviews them.
func (d *demoLoader) bureauYear(ctx context.Context, dist services.Org, admin, city services.Principal, pd services.Period) error {
	for _, channel := range []string{"来信来访", "12345热线", "网络留言", "人大建议"} {
		received := 3 + d.rng.IntN(20)
		resolved := received - d.rng.IntN(2)
		if err := d.fileAs(ctx, admin, city, dist.ID, "petition", channel+"办理", d.day(pd), map[string]any{"channel": channel,
			"received": received, "resolved": resolved, "satisfied": resolved - d.rng.IntN(2)}); err != nil {
			return err
		}
	}
	return d.fileAs(ctx, admin, city, dist.ID, "honor_award", "区优秀教师表彰", d.day(pd), map[string]any{"level": "区县级",
		"recipient_kind": "教师", "category": "优秀教师", "count": 20 + d.rng.IntN(20)})
}

// photo is a small JPEG as a phone would send it: a sky over a
// playground.
func (d *demoLoader) photo() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	tint := uint8(d.rng.IntN(60))
	for y := range 240 {
		for x := range 320 {
			c := color.RGBA{R: 90 + tint, G: 150, B: uint8(255 - y/2), A: 255}
			if y > 150 {
				c = color.RGBA{R: 60, G: uint8(130 + x/8), B: 60 + tint, A: 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 70})
	return b.Bytes()
}

// nextDay is day plus n days (YYYY-MM-DD).
func nextDay(day string, n int) string {
	t, _ := time.Parse(time.DateOnly, day)
	return t.AddDate(0, 0, n).Format(time.DateOnly)
}

// yearOf is the year of a day (YYYY-MM-DD).
func yearOf(day string) int {
	t, _ := time.Parse(time.DateOnly, day)
	return t.Year()
}
