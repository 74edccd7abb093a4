-- abacus schema snapshot, revision 0013
-- made by `python -m storage.schema_snapshot` from the migrations; do not edit

CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

CREATE TABLE alert_outbox (
	id INTEGER NOT NULL, 
	dedup_key VARCHAR(255) NOT NULL, 
	incident_id INTEGER, 
	kind VARCHAR(32) NOT NULL, 
	channel VARCHAR(32), 
	payload TEXT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	last_error TEXT, 
	created_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	slack_ts VARCHAR(32), batch VARCHAR(64), transport VARCHAR(16) DEFAULT 'slack' NOT NULL, lease_owner VARCHAR(64), lease_until DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(incident_id) REFERENCES incident (id), 
	CONSTRAINT uq_alert_outbox_dedup UNIQUE (dedup_key)
);

CREATE TABLE anomaly (
	id INTEGER NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	subject VARCHAR(320) NOT NULL, 
	user_email VARCHAR(320), 
	day DATE NOT NULL, 
	severity VARCHAR(16) NOT NULL, 
	value FLOAT NOT NULL, 
	threshold FLOAT NOT NULL, 
	message TEXT NOT NULL, 
	incident_id INTEGER, 
	detected_at DATETIME NOT NULL, baseline_label VARCHAR(64), unit VARCHAR(16), ratio FLOAT, tool VARCHAR(32), model VARCHAR(255), model_share FLOAT, data_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(incident_id) REFERENCES incident (id), 
	CONSTRAINT uq_anomaly UNIQUE (kind, subject, day)
);

CREATE TABLE api_key (
	id INTEGER NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	external_id VARCHAR(255) NOT NULL, 
	name VARCHAR(255), 
	org VARCHAR(255), 
	workspace_id VARCHAR(255), 
	creator_id VARCHAR(255), 
	email VARCHAR(320), 
	mapped_how VARCHAR(16), 
	mapped_by VARCHAR(320), 
	mapped_at DATETIME, 
	status VARCHAR(32), 
	first_seen DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_api_key_external UNIQUE (source, external_id)
);

CREATE TABLE billing_group (
	id INTEGER NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	external_id VARCHAR(255), 
	budget_nanos BIGINT, 
	cycle_start DATE, 
	cycle_end DATE, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);

CREATE TABLE import_batch (
	id INTEGER NOT NULL, 
	filename VARCHAR(255) NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	format VARCHAR(32) NOT NULL, 
	rows_read INTEGER NOT NULL, 
	inserted INTEGER NOT NULL, 
	duplicates INTEGER NOT NULL, 
	rejected INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR(320), skipped INTEGER DEFAULT '0' NOT NULL, first_day DATE, last_day DATE, via VARCHAR(16) DEFAULT 'cli' NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE "incident" (
	id INTEGER NOT NULL, 
	dedup_key VARCHAR(255) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	user_email VARCHAR(320), 
	severity VARCHAR(16) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	value FLOAT NOT NULL, 
	threshold FLOAT NOT NULL, 
	message TEXT NOT NULL, 
	data_at DATETIME NOT NULL, 
	opened_at DATETIME NOT NULL, 
	alerted_at DATETIME, 
	acknowledged_at DATETIME, 
	acknowledged_by VARCHAR(320), 
	resolved_at DATETIME, 
	resolved_by VARCHAR(320), 
	last_seen_day DATE, 
	clear_streak INTEGER NOT NULL, 
	slack_channel VARCHAR(32), 
	slack_ts VARCHAR(32), 
	version INTEGER NOT NULL, 
	signals TEXT NOT NULL, 
	first_day DATE, 
	snoozed_until DATETIME, 
	snoozed_by VARCHAR(320), 
	last_checked_day DATE, 
	alert_queued BOOLEAN NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE incident_event (
	id INTEGER NOT NULL, 
	incident_id INTEGER NOT NULL, 
	from_status VARCHAR(16), 
	to_status VARCHAR(16) NOT NULL, 
	actor VARCHAR(320), 
	via VARCHAR(32) NOT NULL, 
	at DATETIME NOT NULL, 
	note TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(incident_id) REFERENCES incident (id)
);

CREATE TABLE job_lease (
	name VARCHAR(64) NOT NULL, 
	holder VARCHAR(128) NOT NULL, 
	acquired_ms BIGINT NOT NULL, 
	expires_ms BIGINT NOT NULL, 
	PRIMARY KEY (name)
);

CREATE TABLE job_run (
	id INTEGER NOT NULL, 
	job VARCHAR(64) NOT NULL, 
	tick DATETIME NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	owner VARCHAR(64) NOT NULL, 
	started_at DATETIME NOT NULL, 
	heartbeat_until DATETIME NOT NULL, 
	finished_at DATETIME, 
	summary TEXT, 
	PRIMARY KEY (id)
);

CREATE TABLE otel_metric_series (
	series_key VARCHAR(64) NOT NULL, 
	start_ns BIGINT NOT NULL, 
	time_ns BIGINT NOT NULL, 
	value BIGINT NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (series_key)
);

CREATE TABLE person (
	id INTEGER NOT NULL, 
	email VARCHAR(320) NOT NULL, 
	name VARCHAR(255), 
	slack_user_id VARCHAR(32), 
	role VARCHAR(16) NOT NULL, 
	group_id INTEGER, 
	cursor_user_id VARCHAR(64), 
	anthropic_user_id VARCHAR(64), 
	has_cursor_seat BOOLEAN NOT NULL, 
	has_claude_seat BOOLEAN NOT NULL, 
	is_removed BOOLEAN NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(group_id) REFERENCES billing_group (id), 
	UNIQUE (email)
);

CREATE TABLE person_activity (
	id INTEGER NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	day DATE NOT NULL, 
	person VARCHAR(320) NOT NULL, 
	natural_key VARCHAR(64) NOT NULL, 
	org VARCHAR(255), 
	is_active BOOLEAN NOT NULL, 
	sessions INTEGER NOT NULL, 
	lines_added INTEGER NOT NULL, 
	lines_removed INTEGER NOT NULL, 
	accepted_lines_added INTEGER NOT NULL, 
	accepted_lines_removed INTEGER NOT NULL, 
	commits INTEGER NOT NULL, 
	pull_requests INTEGER NOT NULL, 
	edits_accepted INTEGER NOT NULL, 
	edits_rejected INTEGER NOT NULL, 
	tabs_shown INTEGER NOT NULL, 
	tabs_accepted INTEGER NOT NULL, 
	chat_requests INTEGER NOT NULL, 
	composer_requests INTEGER NOT NULL, 
	agent_requests INTEGER NOT NULL, 
	cmdk_usages INTEGER NOT NULL, 
	bugbot_usages INTEGER NOT NULL, 
	included_requests INTEGER NOT NULL, 
	usage_based_requests INTEGER NOT NULL, 
	api_key_requests INTEGER NOT NULL, 
	most_used_model VARCHAR(255), 
	client_version VARCHAR(64), 
	terminal_type VARCHAR(64), 
	detail TEXT, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_person_activity UNIQUE (source, day, person, natural_key)
);

CREATE TABLE setting (
	"key" VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	updated_by VARCHAR(320), 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY ("key")
);

CREATE TABLE slack_delivery (
	delivery_key VARCHAR(255) NOT NULL, 
	received_ms BIGINT NOT NULL, 
	PRIMARY KEY (delivery_key)
);

CREATE TABLE slack_file_import (
	file_id VARCHAR(32) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	user_id VARCHAR(32) NOT NULL, 
	channel VARCHAR(32), 
	filename VARCHAR(255), 
	sha256 VARCHAR(64), 
	format VARCHAR(32), 
	message_ts VARCHAR(32), 
	import_batch_id INTEGER, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (file_id), 
	FOREIGN KEY(import_batch_id) REFERENCES import_batch (id)
);

CREATE TABLE spend_snapshot (
	id INTEGER NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	org VARCHAR(255) NOT NULL, 
	cycle_start DATE NOT NULL, 
	email VARCHAR(320) NOT NULL, 
	on_demand_nanos BIGINT NOT NULL, 
	overall_nanos BIGINT, 
	fast_premium_requests INTEGER, 
	limit_dollars FLOAT, 
	taken_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_spend_snapshot UNIQUE (source, org, cycle_start, email)
);

CREATE TABLE sync_run (
	id INTEGER NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	org VARCHAR(255), 
	stream VARCHAR(64), 
	window_from DATETIME, 
	window_to DATETIME, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	status VARCHAR(16) NOT NULL, 
	records_read INTEGER NOT NULL, 
	inserted INTEGER NOT NULL, 
	duplicates INTEGER NOT NULL, 
	error TEXT, 
	"trigger" VARCHAR(32) NOT NULL, holder VARCHAR(128), 
	PRIMARY KEY (id)
);

CREATE TABLE sync_state (
	id INTEGER NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	org VARCHAR(255) NOT NULL, 
	stream VARCHAR(64) NOT NULL, 
	watermark VARCHAR(64), 
	detail TEXT, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_sync_state UNIQUE (source, org, stream)
);

CREATE TABLE usage_daily (
	input_tokens BIGINT NOT NULL, 
	cache_write_tokens BIGINT NOT NULL, 
	cache_read_tokens BIGINT NOT NULL, 
	output_tokens BIGINT NOT NULL, 
	cost_nanos BIGINT NOT NULL, 
	estimated_cost_nanos BIGINT NOT NULL, 
	unpriced_records INTEGER NOT NULL, 
	requests BIGINT NOT NULL, 
	records BIGINT NOT NULL, 
	day DATE NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	person VARCHAR(320) NOT NULL, 
	model VARCHAR(255) NOT NULL, 
	PRIMARY KEY (day, source, person, model)
)
 WITHOUT ROWID;

CREATE TABLE "usage_event" (
	source VARCHAR(32) NOT NULL, 
	feed VARCHAR(32) NOT NULL, 
	natural_key VARCHAR(64) NOT NULL, 
	day DATE NOT NULL, 
	person VARCHAR(320) NOT NULL, 
	api_key VARCHAR(255), 
	org VARCHAR(255), 
	raw_model VARCHAR(255) NOT NULL, 
	model VARCHAR(255) NOT NULL, 
	input_tokens BIGINT NOT NULL, 
	cache_write_5m_tokens BIGINT NOT NULL, 
	cache_write_1h_tokens BIGINT NOT NULL, 
	cache_read_tokens BIGINT NOT NULL, 
	output_tokens BIGINT NOT NULL, 
	cost_nanos BIGINT NOT NULL, 
	cost_basis VARCHAR(16) NOT NULL, 
	estimated_cost_nanos BIGINT NOT NULL, 
	requests INTEGER NOT NULL, 
	kind VARCHAR(64), 
	max_mode BOOLEAN, 
	import_batch_id INTEGER, 
	ts_ms BIGINT NOT NULL, 
	CONSTRAINT pk_usage_event PRIMARY KEY (source, day, ts_ms, natural_key)
);

CREATE TABLE usage_model_day (
	input_tokens BIGINT NOT NULL, 
	cache_write_tokens BIGINT NOT NULL, 
	cache_read_tokens BIGINT NOT NULL, 
	output_tokens BIGINT NOT NULL, 
	cost_nanos BIGINT NOT NULL, 
	estimated_cost_nanos BIGINT NOT NULL, 
	unpriced_records INTEGER NOT NULL, 
	requests BIGINT NOT NULL, 
	records BIGINT NOT NULL, 
	day DATE NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	model VARCHAR(255) NOT NULL, 
	PRIMARY KEY (day, source, model)
)
 WITHOUT ROWID;

CREATE TABLE usage_person_day (
	input_tokens BIGINT NOT NULL, 
	cache_write_tokens BIGINT NOT NULL, 
	cache_read_tokens BIGINT NOT NULL, 
	output_tokens BIGINT NOT NULL, 
	cost_nanos BIGINT NOT NULL, 
	estimated_cost_nanos BIGINT NOT NULL, 
	unpriced_records INTEGER NOT NULL, 
	requests BIGINT NOT NULL, 
	records BIGINT NOT NULL, 
	day DATE NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	person VARCHAR(320) NOT NULL, 
	PRIMARY KEY (day, source, person)
)
 WITHOUT ROWID;

CREATE TABLE usage_person_total_day (
	input_tokens BIGINT NOT NULL, 
	cache_write_tokens BIGINT NOT NULL, 
	cache_read_tokens BIGINT NOT NULL, 
	output_tokens BIGINT NOT NULL, 
	cost_nanos BIGINT NOT NULL, 
	estimated_cost_nanos BIGINT NOT NULL, 
	unpriced_records INTEGER NOT NULL, 
	requests BIGINT NOT NULL, 
	records BIGINT NOT NULL, 
	day DATE NOT NULL, 
	person VARCHAR(320) NOT NULL, 
	PRIMARY KEY (day, person)
)
 WITHOUT ROWID;

CREATE TABLE vendor_analytics (
	id INTEGER NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	org VARCHAR(255) NOT NULL, 
	day DATE NOT NULL, 
	metric VARCHAR(32) NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	value BIGINT NOT NULL, 
	users BIGINT, 
	extra BIGINT, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_vendor_analytics UNIQUE (source, org, metric, day, "key")
);

CREATE TABLE vendor_cost (
	id INTEGER NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	natural_key VARCHAR(64) NOT NULL, 
	org VARCHAR(255), 
	day DATE NOT NULL, 
	description VARCHAR(255), 
	model VARCHAR(255), 
	workspace_id VARCHAR(255), 
	cost_type VARCHAR(32), 
	token_type VARCHAR(64), 
	cost_nanos BIGINT NOT NULL, person VARCHAR(320), api_key VARCHAR(255), 
	PRIMARY KEY (id), 
	CONSTRAINT uq_vendor_cost UNIQUE (source, natural_key)
);

CREATE TABLE vendor_user_analytics (
	id INTEGER NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	org VARCHAR(255) NOT NULL, 
	person VARCHAR(320) NOT NULL, 
	day DATE NOT NULL, 
	metric VARCHAR(32) NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	value BIGINT NOT NULL, 
	extra BIGINT, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_vendor_user_analytics UNIQUE (source, org, person, metric, day, "key")
);

CREATE INDEX ix_alert_outbox_batch ON alert_outbox (batch);

CREATE INDEX ix_alert_outbox_due ON alert_outbox (status, next_attempt_at);

CREATE INDEX ix_alert_outbox_status ON alert_outbox (status);

CREATE INDEX ix_anomaly_day ON anomaly (day);

CREATE INDEX ix_anomaly_incident_id ON anomaly (incident_id);

CREATE INDEX ix_api_key_name ON api_key (name);

CREATE INDEX ix_import_batch_sha256 ON import_batch (sha256);

CREATE INDEX ix_incident_dedup_key ON incident (dedup_key);

CREATE UNIQUE INDEX uq_incident_open_subject ON incident (dedup_key) WHERE status <> 'resolved';

CREATE INDEX ix_incident_event_incident_id ON incident_event (incident_id);

CREATE INDEX ix_job_run_job_started ON job_run (job, started_at);

CREATE UNIQUE INDEX uq_job_run_tick ON job_run (job, tick);

CREATE INDEX ix_person_slack_user_id ON person (slack_user_id);

CREATE INDEX ix_person_activity_day ON person_activity (day);

CREATE INDEX ix_person_activity_person ON person_activity (person);

CREATE INDEX ix_slack_delivery_received_ms ON slack_delivery (received_ms);

CREATE INDEX ix_sync_run_source ON sync_run (source);

CREATE INDEX ix_usage_daily_person ON usage_daily (person, day);

CREATE INDEX ix_usage_event_api_key ON usage_event (source, api_key) WHERE api_key IS NOT NULL;

CREATE INDEX ix_usage_event_claude_person_day ON usage_event (day, person, feed) WHERE source = 'claude_code';

CREATE INDEX ix_usage_event_live_day ON usage_event (day, person) WHERE source = 'claude_code' AND (feed = 'cc_otel_events' OR feed = 'cc_otel_metrics');

CREATE INDEX ix_usage_person_day_person ON usage_person_day (person, day);

CREATE INDEX ix_usage_person_total_day_person ON usage_person_total_day (person, day);

CREATE INDEX ix_vendor_analytics_day ON vendor_analytics (day);

CREATE INDEX ix_vendor_cost_day ON vendor_cost (day);

CREATE INDEX ix_vendor_user_analytics_day ON vendor_user_analytics (day);

CREATE INDEX ix_vendor_user_analytics_person_day ON vendor_user_analytics (person, day);

CREATE TRIGGER usage_daily_sums_stay_integers BEFORE UPDATE ON usage_daily WHEN typeof(NEW.input_tokens) <> 'integer' OR typeof(NEW.cache_write_tokens) <> 'integer' OR typeof(NEW.cache_read_tokens) <> 'integer' OR typeof(NEW.output_tokens) <> 'integer' OR typeof(NEW.cost_nanos) <> 'integer' OR typeof(NEW.estimated_cost_nanos) <> 'integer' OR typeof(NEW.unpriced_records) <> 'integer' OR typeof(NEW.requests) <> 'integer' OR typeof(NEW.records) <> 'integer' BEGIN SELECT RAISE(ABORT, 'integer overflow in usage_daily'); END;

CREATE TRIGGER usage_model_day_sums_stay_integers BEFORE UPDATE ON usage_model_day WHEN typeof(NEW.input_tokens) <> 'integer' OR typeof(NEW.cache_write_tokens) <> 'integer' OR typeof(NEW.cache_read_tokens) <> 'integer' OR typeof(NEW.output_tokens) <> 'integer' OR typeof(NEW.cost_nanos) <> 'integer' OR typeof(NEW.estimated_cost_nanos) <> 'integer' OR typeof(NEW.unpriced_records) <> 'integer' OR typeof(NEW.requests) <> 'integer' OR typeof(NEW.records) <> 'integer' BEGIN SELECT RAISE(ABORT, 'integer overflow in usage_model_day'); END;

CREATE TRIGGER usage_person_day_sums_stay_integers BEFORE UPDATE ON usage_person_day WHEN typeof(NEW.input_tokens) <> 'integer' OR typeof(NEW.cache_write_tokens) <> 'integer' OR typeof(NEW.cache_read_tokens) <> 'integer' OR typeof(NEW.output_tokens) <> 'integer' OR typeof(NEW.cost_nanos) <> 'integer' OR typeof(NEW.estimated_cost_nanos) <> 'integer' OR typeof(NEW.unpriced_records) <> 'integer' OR typeof(NEW.requests) <> 'integer' OR typeof(NEW.records) <> 'integer' BEGIN SELECT RAISE(ABORT, 'integer overflow in usage_person_day'); END;

CREATE TRIGGER usage_person_total_day_sums_stay_integers BEFORE UPDATE ON usage_person_total_day WHEN typeof(NEW.input_tokens) <> 'integer' OR typeof(NEW.cache_write_tokens) <> 'integer' OR typeof(NEW.cache_read_tokens) <> 'integer' OR typeof(NEW.output_tokens) <> 'integer' OR typeof(NEW.cost_nanos) <> 'integer' OR typeof(NEW.estimated_cost_nanos) <> 'integer' OR typeof(NEW.unpriced_records) <> 'integer' OR typeof(NEW.requests) <> 'integer' OR typeof(NEW.records) <> 'integer' BEGIN SELECT RAISE(ABORT, 'integer overflow in usage_person_total_day'); END;
