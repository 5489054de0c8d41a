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
	"validation_failed":      {"提交的内容未通过校验", "The request content is invalid"},
	"bad_request":            {"请求格式错误", "The request is malformed"},
	"not_found":              {"未找到该资源", "Not found"},
	"method_not_allowed":     {"不支持该请求方法", "Method not allowed"},
	"conflict":               {"与现有数据冲突", "Conflict with existing data"},
	"org_not_empty":          {"该单位下仍有下级单位或用户", "The unit still has child units or users"},
	"precondition_failed":    {"数据已被他人修改，请刷新后重试", "The resource changed; reload and retry"},
	"precondition_required":  {"缺少 If-Match 请求头", "If-Match header required"},
	"unauthorized":           {"未登录或登录已失效", "Not signed in or the session has ended"},
	"invalid_credentials":    {"用户名或密码错误", "Wrong username or password"},
	"invalid_token":          {"令牌无效或已过期", "The token is invalid or expired"},
	"forbidden":              {"无权执行此操作", "You may not do this"},
	"rate_limited":           {"请求过于频繁，请稍后再试", "Too many requests; try again later"},
	"payload_too_large":      {"请求体过大", "The request body is too large"},
	"unsupported_media_type": {"不支持的内容类型", "Unsupported media type"},
	"unavailable":            {"服务暂不可用，请稍后再试", "The service is unavailable; try again later"},
	"internal":               {"服务器内部错误", "Internal server error"},
}

// fieldMessages explains each field error code.
var fieldMessages = map[string]text{
	"required":           {"必填", "is required"},
	"unknown":            {"不是可接受的字段", "is not an accepted field"},
	"type":               {"类型错误，应为{expected}", "has the wrong type, want {expected}"},
	"syntax":             {"JSON 格式错误", "is not valid JSON"},
	"min":                {"不能小于{min}", "must be at least {min}"},
	"max":                {"不能大于{max}", "must be at most {max}"},
	"min_length":         {"长度不能少于{min}个字符", "must have at least {min} characters"},
	"max_length":         {"长度不能超过{max}个字符", "must have at most {max} characters"},
	"format":             {"格式不正确", "has an invalid format"},
	"enum":               {"取值无效，可选：{options}", "is not one of {options}"},
	"duplicate":          {"重复", "is repeated"},
	"taken":              {"已被占用", "is already taken"},
	"not_found":          {"不存在或不在您的管辖范围内", "does not exist or is outside your scope"},
	"not_allowed":        {"不允许设置", "may not be set"},
	"immutable":          {"创建后不可修改", "cannot change after creation"},
	"parent_kind":        {"上级单位必须是{kind}", "the parent must be a {kind}"},
	"org_kind":           {"该角色必须隶属于{kind}", "this role belongs to a {kind}"},
	"schools_only":       {"仅学校可设置", "applies to schools only"},
	"school_code":        {"应为10位数字的学校标识码", "must be the 10-digit national school code"},
	"mobile":             {"应为11位手机号码", "must be an 11-digit mobile number"},
	"username":           {"应为2-64位小写字母、数字或 _.@-", "must be 2-64 lower-case letters, digits or _.@-"},
	"username_is_mobile": {"用户名不能是他人的手机号码", "must not be another person's mobile number"},
	"role_not_allowed":   {"您无权设置该角色", "you may not give this role"},
	"self":               {"不能修改自己的该项设置", "cannot be changed on your own account"},
	"password_length":    {"密码长度应为{min}-{max}个字符", "must have {min} to {max} characters"},
	"password_weak":      {"密码过于简单，不能全为数字或空白", "is too weak: not only digits or spaces"},
	"incorrect":          {"当前密码不正确", "is not your current password"},
	"missing_column":     {"缺少列：{column}", "lacks the column {column}"},
	"too_many_rows":      {"行数超过上限{max}", "has more than {max} rows"},
	"unsupported_format": {"仅支持 CSV 或 XLSX 文件", "must be a CSV or XLSX file"},
	"empty":              {"文件为空或没有表头", "is empty or has no header row"},
	"duplicate_in_file":  {"与第{line}行重复", "repeats line {line}"},
	"cursor":             {"分页游标无效", "is not a valid cursor"},
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
