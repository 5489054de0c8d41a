package handlers

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/text/language"
)

// lang is the language of one response.
type lang int

const (
	zh lang = iota
	en
)

// languages is what huizong speaks, Chinese first: it is the default.
var languages = language.NewMatcher([]language.Tag{language.SimplifiedChinese, language.English})

// negotiate picks the response language from an Accept-Language header.
func negotiate(header string) lang {
	if header == "" {
		return zh
	}
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(tags) == 0 {
		return zh
	}
	_, i, conf := languages.Match(tags...)
	if i == 1 && conf != language.No {
		return en
	}
	return zh
}

// text is one message in both languages; {name} marks an argument.
type text struct{ zh, en string }

// titles names each problem code.
var titles = map[string]text{
	"validation_failed":        {"提交的内容未通过校验", "The request content is invalid"},
	"bad_request":              {"请求格式错误", "The request is malformed"},
	"unknown_parameter":        {"请求含有该接口不接受的查询参数", "The request has a query parameter this endpoint does not take"},
	"not_found":                {"未找到该资源", "Not found"},
	"method_not_allowed":       {"不支持该请求方法", "Method not allowed"},
	"conflict":                 {"与现有数据冲突", "Conflict with existing data"},
	"org_not_empty":            {"该单位下仍有下级单位或用户", "The unit still has child units or users"},
	"precondition_failed":      {"数据已被他人修改，请刷新后重试", "The resource changed; reload and retry"},
	"precondition_required":    {"缺少 If-Match 请求头", "If-Match header required"},
	"unauthorized":             {"未登录或登录已失效", "Not signed in or the session has ended"},
	"invalid_credentials":      {"用户名或密码错误", "Wrong username or password"},
	"invalid_token":            {"令牌无效或已过期", "The token is invalid or expired"},
	"forbidden":                {"无权执行此操作", "You may not do this"},
	"rate_limited":             {"请求过于频繁，请稍后再试", "Too many requests; try again later"},
	"payload_too_large":        {"请求体过大", "The request body is too large"},
	"unsupported_media_type":   {"不支持的内容类型", "Unsupported media type"},
	"unavailable":              {"服务暂不可用，请稍后再试", "The service is unavailable; try again later"},
	"password_change_required": {"请先修改初始密码", "Change the password you were given first"},
	"storage_unavailable":      {"服务器存储暂时无法写入，本次请求未保存，请稍后重试", "The server's storage cannot be written right now; nothing was saved, try again later"},
	"internal":                 {"服务器内部错误", "Internal server error"},
	"client_id_reused":         {"该 client_id 已用于另一条不同内容的记录", "This client_id was already used for a record with other content"},
	"invalid_transition":       {"记录当前状态不允许此操作", "The record's status does not allow this"},
	"not_author":               {"只有填报人可以修改或提交该记录", "Only the record's author may change or submit it"},
	"not_reviewer":             {"您不是该记录的审核人", "You are not a reviewer of this record"},
}

// fieldMessages explains each field error code.
var fieldMessages = map[string]text{
	"required":             {"必填", "is required"},
	"unknown":              {"不是可接受的字段", "is not an accepted field"},
	"unknown_parameter":    {"不是该接口可接受的查询参数", "is not a query parameter of this endpoint"},
	"not_staff":            {"{id}不是本单位的教职工", "{id} is not on the staff of the record's unit"},
	"distinct_text":        {"只有文本或人员字段可以按不同取值计数", "distinct needs a text or people field"},
	"term_format":          {"无法识别的指标项：{term}", "is not a term: {term}"},
	"term_template":        {"模板{template}不存在或不可见", "names template {template}, which does not exist or is not visible"},
	"term_measure":         {"{key}不是该模板的统计量", "{key} is not a measure of the template"},
	"term_people":          {"{key}不是该模板的人员字段", "{key} is not a people field of the template"},
	"term_dimension":       {"{key}不是该模板的分组维度", "{key} is not a dimension of the template"},
	"term_option":          {"维度{key}没有选项{value}", "dimension {key} has no option {value}"},
	"indicator_group":      {"指标只能按 org 或一个期间（month、quarter、semester、school_year、year）分组", "an indicator groups by org and one period bucket only"},
	"no_previous":          {"该期间没有可比较的上一期间", "has no previous period to compare with"},
	"per_field":            {"应为本模板中另一个数值字段的键名", "must name another numeric field of the template"},
	"per_without_check":    {"仅在设置了合理性检查（check）时可用", "needs a plausibility check (check)"},
	"filter_format":        {"应为“维度:取值”，多个维度用逗号分隔，多个取值用|分隔，如 level:市级,category:优秀班主任", "must be key:value pairs separated by commas, several values joined by |, such as level:市级,category:优秀班主任"},
	"filter_key":           {"{key}不是所选模板的分组维度", "{key} is not a dimension of the templates asked for"},
	"type":                 {"类型错误，应为{expected}", "has the wrong type, want {expected}"},
	"syntax":               {"JSON 格式错误", "is not valid JSON"},
	"min":                  {"不能小于{min}", "must be at least {min}"},
	"max":                  {"不能大于{max}", "must be at most {max}"},
	"min_length":           {"长度不能少于{min}个字符", "must have at least {min} characters"},
	"max_length":           {"长度不能超过{max}个字符", "must have at most {max} characters"},
	"format":               {"格式不正确", "has an invalid format"},
	"total_overflow":       {"会使汇总数超出可记录的范围，请核对数值", "would take a total beyond what can be recorded; check the value"},
	"quota_exceeded":       {"已超出个人附件存储额度（{max}）", "exceeds your attachment storage quota ({max})"},
	"enum":                 {"取值无效，可选：{options}", "is not one of {options}"},
	"duplicate":            {"重复", "is repeated"},
	"taken":                {"已被占用", "is already taken"},
	"not_found":            {"不存在或不在您的管辖范围内", "does not exist or is outside your scope"},
	"not_allowed":          {"不允许设置", "may not be set"},
	"immutable":            {"创建后不可修改", "cannot change after creation"},
	"parent_kind":          {"上级单位必须是{kind}", "the parent must be a {kind}"},
	"org_kind":             {"该角色必须隶属于{kind}", "this role belongs to a {kind}"},
	"schools_only":         {"仅学校可设置", "applies to schools only"},
	"school_code":          {"应为10位数字的学校标识码", "must be the 10-digit national school code"},
	"mobile":               {"应为11位手机号码", "must be an 11-digit mobile number"},
	"username":             {"应为2-64位小写字母、数字或 _.@-", "must be 2-64 lower-case letters, digits or _.@-"},
	"username_is_mobile":   {"用户名不能是他人的手机号码", "must not be another person's mobile number"},
	"role_not_allowed":     {"您无权设置该角色", "you may not give this role"},
	"self":                 {"不能修改自己的该项设置", "cannot be changed on your own account"},
	"password_length":      {"密码长度应为{min}-{max}个字符", "must have {min} to {max} characters"},
	"password_weak":        {"密码过于简单，不能全为数字或空白", "is too weak: not only digits or spaces"},
	"incorrect":            {"当前密码不正确", "is not your current password"},
	"missing_column":       {"缺少列：{column}", "lacks the column {column}"},
	"too_many_rows":        {"行数超过上限{max}", "has more than {max} rows"},
	"unsupported_format":   {"仅支持 CSV 或 XLSX 文件", "must be a CSV or XLSX file"},
	"empty":                {"文件为空或没有表头", "is empty or has no header row"},
	"duplicate_in_file":    {"与第{line}行重复", "repeats line {line}"},
	"cursor":               {"分页游标无效", "is not a valid cursor"},
	"inactive":             {"该模板已停用", "is an inactive template"},
	"not_applicable":       {"该模板不适用于此单位", "does not apply to this org unit"},
	"date":                 {"应为有效日期（YYYY-MM-DD）", "must be a valid date (YYYY-MM-DD)"},
	"min_date":             {"不能早于{min}", "must not be before {min}"},
	"future":               {"不能晚于今天（{max}）", "must not be after today ({max})"},
	"before_start":         {"不能早于开始日期", "must not be before the start date"},
	"transition":           {"当前状态（{status}）不允许此操作", "does not allow this in status {status}"},
	"reused":               {"已用于另一条不同内容的数据", "was already used for other content"},
	"attachment_not_found": {"附件{id}不存在或不是您上传的", "attachment {id} does not exist or is not yours"},
	"too_many":             {"数量不能超过{max}", "must have at most {max} items"},
	"too_large":            {"文件不能超过{max}字节", "must be at most {max} bytes"},
	"image_too_large":      {"图片尺寸过大", "is an image with too many pixels"},
	"media_type":           {"仅支持以下文件类型：{types}", "must be one of {types}"},
	"corrupt":              {"文件已损坏，无法读取", "is damaged and cannot be read"},
	"owner_kind":           {"模板只能属于市或区县教育局", "must be a city or district bureau"},
	"summary_placeholder":  {"总结句式中的占位符{placeholder}无法填写：应为本模板的指标、维度、人员字段，或 scope、name、records、school_rate、staff_rate、indicators", "placeholder {placeholder} cannot be filled: use a measure, dimension or people field of the template, or scope, name, records, school_rate, staff_rate, indicators"},
	"summary_syntax":       {"总结句式的花括号不成对（{at}）", "unbalanced brace in the summary pattern ({at})"},
	"type_changed":         {"字段类型不能修改（原为{type}）", "cannot change type (was {type})"},
	"timestamp":            {"应为 RFC 3339 时间，如 2025-10-09T08:30:00+08:00", "must be an RFC 3339 timestamp such as 2025-10-09T08:30:00+08:00"},
	"above_students":       {"超过学校在校学生数{limit}，请核实", "exceeds the school's {limit} students; please check"},
	"key":                  {"键名不能以$开头，也不能包含.或空字符", "must not start with $ or contain . or NUL"},
	"key_format":           {"应为小写字母开头的小写字母、数字或下划线", "must be lower-case letters, digits or _, starting with a letter"},
	"integer":              {"应为整数", "must be a whole number"},
	"min_max":              {"最小值不能大于最大值", "must not be above max"},
	"out_of_range":         {"超出最小值与最大值范围", "is outside min and max"},
	"measure_numeric":      {"只有数值字段（integer、number）可以作为统计量", "measure needs an integer or number field"},
	"dimension_enum":       {"只有选项字段（enum、multi_enum、bool）可以作为分组维度", "dimension needs an enum, multi_enum or bool field"},
	"range":                {"应在{min}到{max}之间", "must be between {min} and {max}"},
	"depth":                {"嵌套层级不能超过{max}层", "must not nest deeper than {max} levels"},
	"too_many_keys":        {"键的数量不能超过{max}个", "must have at most {max} keys"},
	"too_many_attachments": {"每条记录最多{max}个附件", "a record holds at most {max} attachments"},
	"above_staff":          {"超过学校教职工数{limit}，请核实", "exceeds the school's {limit} staff; please check"},
	"period":               {"应为期间编号，如 2025、2025Q1、202503、2025AY、2025AY-S1", "must be a period id such as 2025, 2025Q1, 202503, 2025AY or 2025AY-S1"},
	"bureau":               {"应为市或区县教育局", "must be a city or district bureau"},
	"not_school":           {"不是学校", "is not a school"},
	"no_schools":           {"没有符合条件的学校", "matches no school"},
	"exclusive":            {"不能与{other}同时使用", "cannot be used together with {other}"},
	"range_too_long":       {"时间范围不能超过{max}年", "must not span more than {max} years"},
	"one_period":           {"只能按一种期间分组", "groups by one kind of period only"},
	"unknown_group":        {"不是可用的分组：org、template、month、quarter、semester、school_year、year 或模板的分组维度", "is not a grouping: org, template, month, quarter, semester, school_year, year or a dimension of the templates"},
	"not_with_dimensions":  {"按分组维度分组时不统计填报人数", "cannot be counted with dimension keys in group_by"},
}

// message renders a field error code with its arguments.
func message(l lang, code string, args map[string]any) string {
	t, ok := fieldMessages[code]
	if !ok {
		t = text{"无效", "is invalid"}
	}
	s := t.zh
	if l == en {
		s = t.en
	}
	if len(args) == 0 {
		return s
	}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, "{"+k+"}", fmt.Sprint(args[k]))
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func title(l lang, code string) string {
	t, ok := titles[code]
	if !ok {
		t = titles["internal"]
	}
	if l == en {
		return t.en
	}
	return t.zh
}
