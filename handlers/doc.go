// Package handlers is huizong's HTTP face: the Gin router, its middleware
// (request ids, logging, recovery, limits, CORS, authentication and the
// role policy), and one handler type per resource that decodes a request,
// calls a service and encodes the answer. Errors reach clients only
// through respondError, as RFC 9457 problem+json.
//
//	@title						huizong API
//	@version					1.0
//	@description				汇总（huizong）收集区县各学校的活动记录，并将其汇总为教育局工作总结中的各项数字。错误以 RFC 9457 application/problem+json 返回，默认为中文，Accept-Language 优先英文时为英文。huizong (汇总) collects the activity records of a district's schools and rolls them up into the figures of the education bureau's work summary. Errors are RFC 9457 application/problem+json, in Chinese unless Accept-Language prefers English.
//	@BasePath					/
//	@tag.name					auth
//	@tag.description			认证：登录、刷新令牌、退出登录、当前用户、修改密码和设备会话。 Authentication: sign-in, token refresh, sign-out, the current user, password changes and device sessions.
//	@tag.name					records
//	@tag.description			记录：教师和校长填报的活动记录，及其提交、审核（通过、退回、重新打开）、撤回、离线批量提交、同步和变更历史。 Records: the activity records teachers and principals file, and their submission, review (approve, return, reopen), withdrawal, offline batches, sync and history.
//	@tag.name					attachments
//	@tag.description			附件：记录的照片和扫描件的上传、详情、下载和缩略图。 Attachments: the photos and scans of records: upload, details, download and thumbnails.
//	@tag.name					templates
//	@tag.description			模板：填报表单的定义（字段、统计量、维度）、版本、复制，以及区县、市教育局的扩展。 Templates: the forms records are filed on (fields, measures, dimensions), their versions, copies, and district and city extensions.
//	@tag.name					totals
//	@tag.description			汇总：已通过记录按单位、期间、模板和维度的计数与合计，以及汇总的核对与重建。 Totals: counts and sums of approved records by unit, period, template and dimension, and verifying and rebuilding them.
//	@tag.name					indicators
//	@tag.description			指标：由汇总算出的比率（满意率、覆盖率、办结率、生均……），内置或由区县、市教育局定义。 Indicators: ratios worked out from totals (satisfaction, coverage, completion, per student ...), built in or defined by district and city bureaus.
//	@tag.name					reports
//	@tag.description			报告：工作总结（数据部分）草稿，可为 Markdown、文本或 Word 文档。 Reports: the draft of a work summary's figures section, as Markdown, text or a Word document.
//	@tag.name					exports
//	@tag.description			导出：记录的 Excel/CSV、上报用的统计表和填报任务进度表。 Exports: records as Excel or CSV, the statistics table a bureau files upward, and a collection task's progress sheet.
//	@tag.name					tasks
//	@tag.description			填报任务：教育局要求学校在截止日期前填报记录；任务进度、未完成学校和本校的任务。 Collection tasks: a bureau asks schools for records by a due date; their progress, the schools missing and a school's own tasks.
//	@tag.name					orgs
//	@tag.description			组织单位：市、区县、学校组成的组织机构树，以及学校的教职工名单。 Org units: the tree of cities, districts and schools, and a school's staff.
//	@tag.name					users
//	@tag.description			用户：账号的创建、查询、修改、重置密码和批量导入。 Users: accounts: creating, reading, changing, password resets and bulk import.
//	@tag.name					admin
//	@tag.description			管理：审计日志和签名密钥轮换。 Administration: the audit log and signing-key rotation.
//	@tag.name					health
//	@tag.description			健康检查：服务索引、存活和就绪探针。 Health: the service index and the liveness and readiness probes.
//	@securityDefinitions.apikey	BearerAuth
//	@in							header
//	@name						Authorization
//	@description				Access token from POST /auth/login, as "Bearer <token>".
package handlers
