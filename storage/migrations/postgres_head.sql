-- abacus schema snapshot, revision 0013
-- made by `python -m storage.schema_snapshot` from the migrations (pg_dump --schema-only); do not edit

CREATE TABLE alembic_version (
    version_num character varying(32) NOT NULL
);

CREATE TABLE alert_outbox (
    id integer NOT NULL,
    dedup_key character varying(255) NOT NULL,
    incident_id integer,
    kind character varying(32) NOT NULL,
    channel character varying(32),
    payload text NOT NULL,
    status character varying(16) NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at timestamp with time zone NOT NULL,
    last_error text,
    created_at timestamp with time zone NOT NULL,
    sent_at timestamp with time zone,
    slack_ts character varying(32),
    batch character varying(64),
    transport character varying(16) DEFAULT 'slack'::character varying NOT NULL,
    lease_owner character varying(64),
    lease_until timestamp with time zone
);

CREATE SEQUENCE alert_outbox_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE alert_outbox_id_seq OWNED BY alert_outbox.id;

CREATE TABLE anomaly (
    id integer NOT NULL,
    kind character varying(32) NOT NULL,
    subject character varying(320) NOT NULL,
    user_email character varying(320),
    day date NOT NULL,
    severity character varying(16) NOT NULL,
    value double precision NOT NULL,
    threshold double precision NOT NULL,
    message text NOT NULL,
    incident_id integer,
    detected_at timestamp with time zone NOT NULL,
    baseline_label character varying(64),
    unit character varying(16),
    ratio double precision,
    tool character varying(32),
    model character varying(255),
    model_share double precision,
    data_at timestamp with time zone
);

CREATE SEQUENCE anomaly_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE anomaly_id_seq OWNED BY anomaly.id;

CREATE TABLE api_key (
    id integer NOT NULL,
    source character varying(32) NOT NULL,
    external_id character varying(255) NOT NULL,
    name character varying(255),
    org character varying(255),
    workspace_id character varying(255),
    creator_id character varying(255),
    email character varying(320),
    mapped_how character varying(16),
    mapped_by character varying(320),
    mapped_at timestamp with time zone,
    status character varying(32),
    first_seen timestamp with time zone NOT NULL
);

CREATE SEQUENCE api_key_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE api_key_id_seq OWNED BY api_key.id;

CREATE TABLE billing_group (
    id integer NOT NULL,
    name character varying(255) NOT NULL,
    source character varying(32) NOT NULL,
    external_id character varying(255),
    budget_nanos bigint,
    cycle_start date,
    cycle_end date,
    created_at timestamp with time zone NOT NULL
);

CREATE SEQUENCE billing_group_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE billing_group_id_seq OWNED BY billing_group.id;

CREATE TABLE import_batch (
    id integer NOT NULL,
    filename character varying(255) NOT NULL,
    sha256 character varying(64) NOT NULL,
    format character varying(32) NOT NULL,
    rows_read integer NOT NULL,
    inserted integer NOT NULL,
    duplicates integer NOT NULL,
    rejected integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    created_by character varying(320),
    skipped integer DEFAULT 0 NOT NULL,
    first_day date,
    last_day date,
    via character varying(16) DEFAULT 'cli'::character varying NOT NULL
);

CREATE SEQUENCE import_batch_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE import_batch_id_seq OWNED BY import_batch.id;

CREATE TABLE incident (
    id integer NOT NULL,
    dedup_key character varying(255) NOT NULL,
    kind character varying(32) NOT NULL,
    user_email character varying(320),
    severity character varying(16) NOT NULL,
    status character varying(16) NOT NULL,
    value double precision NOT NULL,
    threshold double precision NOT NULL,
    message text NOT NULL,
    data_at timestamp with time zone NOT NULL,
    opened_at timestamp with time zone NOT NULL,
    alerted_at timestamp with time zone,
    acknowledged_at timestamp with time zone,
    acknowledged_by character varying(320),
    resolved_at timestamp with time zone,
    resolved_by character varying(320),
    last_seen_day date,
    clear_streak integer NOT NULL,
    slack_channel character varying(32),
    slack_ts character varying(32),
    version integer NOT NULL,
    signals text NOT NULL,
    first_day date,
    snoozed_until timestamp with time zone,
    snoozed_by character varying(320),
    last_checked_day date,
    alert_queued boolean NOT NULL
);

CREATE TABLE incident_event (
    id integer NOT NULL,
    incident_id integer NOT NULL,
    from_status character varying(16),
    to_status character varying(16) NOT NULL,
    actor character varying(320),
    via character varying(32) NOT NULL,
    at timestamp with time zone NOT NULL,
    note text
);

CREATE SEQUENCE incident_event_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE incident_event_id_seq OWNED BY incident_event.id;

CREATE SEQUENCE incident_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE incident_id_seq OWNED BY incident.id;

CREATE TABLE job_lease (
    name character varying(64) NOT NULL,
    holder character varying(128) NOT NULL,
    acquired_ms bigint NOT NULL,
    expires_ms bigint NOT NULL
);

CREATE TABLE job_run (
    id integer NOT NULL,
    job character varying(64) NOT NULL,
    tick timestamp with time zone NOT NULL,
    status character varying(16) NOT NULL,
    owner character varying(64) NOT NULL,
    started_at timestamp with time zone NOT NULL,
    heartbeat_until timestamp with time zone NOT NULL,
    finished_at timestamp with time zone,
    summary text
);

CREATE SEQUENCE job_run_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE job_run_id_seq OWNED BY job_run.id;

CREATE TABLE otel_metric_series (
    series_key character varying(64) NOT NULL,
    start_ns bigint NOT NULL,
    time_ns bigint NOT NULL,
    value bigint NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE person (
    id integer NOT NULL,
    email character varying(320) NOT NULL,
    name character varying(255),
    slack_user_id character varying(32),
    role character varying(16) NOT NULL,
    group_id integer,
    cursor_user_id character varying(64),
    anthropic_user_id character varying(64),
    has_cursor_seat boolean NOT NULL,
    has_claude_seat boolean NOT NULL,
    is_removed boolean NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE person_activity (
    id integer NOT NULL,
    source character varying(32) NOT NULL,
    day date NOT NULL,
    person character varying(320) NOT NULL,
    natural_key character varying(64) NOT NULL,
    org character varying(255),
    is_active boolean NOT NULL,
    sessions integer NOT NULL,
    lines_added integer NOT NULL,
    lines_removed integer NOT NULL,
    accepted_lines_added integer NOT NULL,
    accepted_lines_removed integer NOT NULL,
    commits integer NOT NULL,
    pull_requests integer NOT NULL,
    edits_accepted integer NOT NULL,
    edits_rejected integer NOT NULL,
    tabs_shown integer NOT NULL,
    tabs_accepted integer NOT NULL,
    chat_requests integer NOT NULL,
    composer_requests integer NOT NULL,
    agent_requests integer NOT NULL,
    cmdk_usages integer NOT NULL,
    bugbot_usages integer NOT NULL,
    included_requests integer NOT NULL,
    usage_based_requests integer NOT NULL,
    api_key_requests integer NOT NULL,
    most_used_model character varying(255),
    client_version character varying(64),
    terminal_type character varying(64),
    detail text
);

CREATE SEQUENCE person_activity_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE person_activity_id_seq OWNED BY person_activity.id;

CREATE SEQUENCE person_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE person_id_seq OWNED BY person.id;

CREATE TABLE setting (
    key character varying(64) NOT NULL,
    value text NOT NULL,
    updated_by character varying(320),
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE slack_delivery (
    delivery_key character varying(255) NOT NULL,
    received_ms bigint NOT NULL
);

CREATE TABLE slack_file_import (
    file_id character varying(32) NOT NULL,
    status character varying(16) NOT NULL,
    user_id character varying(32) NOT NULL,
    channel character varying(32),
    filename character varying(255),
    sha256 character varying(64),
    format character varying(32),
    message_ts character varying(32),
    import_batch_id integer,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE spend_snapshot (
    id integer NOT NULL,
    source character varying(32) NOT NULL,
    org character varying(255) NOT NULL,
    cycle_start date NOT NULL,
    email character varying(320) NOT NULL,
    on_demand_nanos bigint NOT NULL,
    overall_nanos bigint,
    fast_premium_requests integer,
    limit_dollars double precision,
    taken_at timestamp with time zone NOT NULL
);

CREATE SEQUENCE spend_snapshot_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE spend_snapshot_id_seq OWNED BY spend_snapshot.id;

CREATE TABLE sync_run (
    id integer NOT NULL,
    source character varying(32) NOT NULL,
    org character varying(255),
    stream character varying(64),
    window_from timestamp with time zone,
    window_to timestamp with time zone,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone,
    status character varying(16) NOT NULL,
    records_read integer NOT NULL,
    inserted integer NOT NULL,
    duplicates integer NOT NULL,
    error text,
    trigger character varying(32) NOT NULL,
    holder character varying(128)
);

CREATE SEQUENCE sync_run_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE sync_run_id_seq OWNED BY sync_run.id;

CREATE TABLE sync_state (
    id integer NOT NULL,
    source character varying(32) NOT NULL,
    org character varying(255) NOT NULL,
    stream character varying(64) NOT NULL,
    watermark character varying(64),
    detail text,
    updated_at timestamp with time zone NOT NULL
);

CREATE SEQUENCE sync_state_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE sync_state_id_seq OWNED BY sync_state.id;

CREATE TABLE usage_daily (
    input_tokens bigint NOT NULL,
    cache_write_tokens bigint NOT NULL,
    cache_read_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cost_nanos bigint NOT NULL,
    estimated_cost_nanos bigint NOT NULL,
    unpriced_records integer NOT NULL,
    requests bigint NOT NULL,
    records bigint NOT NULL,
    day date NOT NULL,
    source character varying(32) NOT NULL,
    person character varying(320) NOT NULL,
    model character varying(255) NOT NULL
)
WITH (fillfactor='70');

CREATE TABLE usage_event (
    source character varying(32) NOT NULL,
    feed character varying(32) NOT NULL,
    natural_key character varying(64) NOT NULL,
    day date NOT NULL,
    person character varying(320) NOT NULL,
    api_key character varying(255),
    org character varying(255),
    raw_model character varying(255) NOT NULL,
    model character varying(255) NOT NULL,
    input_tokens bigint NOT NULL,
    cache_write_5m_tokens bigint NOT NULL,
    cache_write_1h_tokens bigint NOT NULL,
    cache_read_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cost_nanos bigint NOT NULL,
    cost_basis character varying(16) NOT NULL,
    estimated_cost_nanos bigint NOT NULL,
    requests integer NOT NULL,
    kind character varying(64),
    max_mode boolean,
    import_batch_id integer,
    ts_ms bigint NOT NULL
);

CREATE TABLE usage_model_day (
    input_tokens bigint NOT NULL,
    cache_write_tokens bigint NOT NULL,
    cache_read_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cost_nanos bigint NOT NULL,
    estimated_cost_nanos bigint NOT NULL,
    unpriced_records integer NOT NULL,
    requests bigint NOT NULL,
    records bigint NOT NULL,
    day date NOT NULL,
    source character varying(32) NOT NULL,
    model character varying(255) NOT NULL
)
WITH (fillfactor='70');

CREATE TABLE usage_person_day (
    input_tokens bigint NOT NULL,
    cache_write_tokens bigint NOT NULL,
    cache_read_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cost_nanos bigint NOT NULL,
    estimated_cost_nanos bigint NOT NULL,
    unpriced_records integer NOT NULL,
    requests bigint NOT NULL,
    records bigint NOT NULL,
    day date NOT NULL,
    source character varying(32) NOT NULL,
    person character varying(320) NOT NULL
)
WITH (fillfactor='70');

CREATE TABLE usage_person_total_day (
    input_tokens bigint NOT NULL,
    cache_write_tokens bigint NOT NULL,
    cache_read_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cost_nanos bigint NOT NULL,
    estimated_cost_nanos bigint NOT NULL,
    unpriced_records integer NOT NULL,
    requests bigint NOT NULL,
    records bigint NOT NULL,
    day date NOT NULL,
    person character varying(320) NOT NULL
)
WITH (fillfactor='70');

CREATE TABLE vendor_analytics (
    id integer NOT NULL,
    source character varying(32) NOT NULL,
    org character varying(255) NOT NULL,
    day date NOT NULL,
    metric character varying(32) NOT NULL,
    key character varying(255) NOT NULL,
    value bigint NOT NULL,
    users bigint,
    extra bigint
);

CREATE SEQUENCE vendor_analytics_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE vendor_analytics_id_seq OWNED BY vendor_analytics.id;

CREATE TABLE vendor_cost (
    id integer NOT NULL,
    source character varying(32) NOT NULL,
    natural_key character varying(64) NOT NULL,
    org character varying(255),
    day date NOT NULL,
    description character varying(255),
    model character varying(255),
    workspace_id character varying(255),
    cost_type character varying(32),
    token_type character varying(64),
    cost_nanos bigint NOT NULL,
    person character varying(320),
    api_key character varying(255)
);

CREATE SEQUENCE vendor_cost_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE vendor_cost_id_seq OWNED BY vendor_cost.id;

CREATE TABLE vendor_user_analytics (
    id integer NOT NULL,
    source character varying(32) NOT NULL,
    org character varying(255) NOT NULL,
    person character varying(320) NOT NULL,
    day date NOT NULL,
    metric character varying(32) NOT NULL,
    key character varying(255) NOT NULL,
    value bigint NOT NULL,
    extra bigint
);

CREATE SEQUENCE vendor_user_analytics_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE vendor_user_analytics_id_seq OWNED BY vendor_user_analytics.id;

ALTER TABLE ONLY alert_outbox ALTER COLUMN id SET DEFAULT nextval('alert_outbox_id_seq'::regclass);

ALTER TABLE ONLY anomaly ALTER COLUMN id SET DEFAULT nextval('anomaly_id_seq'::regclass);

ALTER TABLE ONLY api_key ALTER COLUMN id SET DEFAULT nextval('api_key_id_seq'::regclass);

ALTER TABLE ONLY billing_group ALTER COLUMN id SET DEFAULT nextval('billing_group_id_seq'::regclass);

ALTER TABLE ONLY import_batch ALTER COLUMN id SET DEFAULT nextval('import_batch_id_seq'::regclass);

ALTER TABLE ONLY incident ALTER COLUMN id SET DEFAULT nextval('incident_id_seq'::regclass);

ALTER TABLE ONLY incident_event ALTER COLUMN id SET DEFAULT nextval('incident_event_id_seq'::regclass);

ALTER TABLE ONLY job_run ALTER COLUMN id SET DEFAULT nextval('job_run_id_seq'::regclass);

ALTER TABLE ONLY person ALTER COLUMN id SET DEFAULT nextval('person_id_seq'::regclass);

ALTER TABLE ONLY person_activity ALTER COLUMN id SET DEFAULT nextval('person_activity_id_seq'::regclass);

ALTER TABLE ONLY spend_snapshot ALTER COLUMN id SET DEFAULT nextval('spend_snapshot_id_seq'::regclass);

ALTER TABLE ONLY sync_run ALTER COLUMN id SET DEFAULT nextval('sync_run_id_seq'::regclass);

ALTER TABLE ONLY sync_state ALTER COLUMN id SET DEFAULT nextval('sync_state_id_seq'::regclass);

ALTER TABLE ONLY vendor_analytics ALTER COLUMN id SET DEFAULT nextval('vendor_analytics_id_seq'::regclass);

ALTER TABLE ONLY vendor_cost ALTER COLUMN id SET DEFAULT nextval('vendor_cost_id_seq'::regclass);

ALTER TABLE ONLY vendor_user_analytics ALTER COLUMN id SET DEFAULT nextval('vendor_user_analytics_id_seq'::regclass);

ALTER TABLE ONLY alembic_version
    ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);

ALTER TABLE ONLY alert_outbox
    ADD CONSTRAINT alert_outbox_pkey PRIMARY KEY (id);

ALTER TABLE ONLY anomaly
    ADD CONSTRAINT anomaly_pkey PRIMARY KEY (id);

ALTER TABLE ONLY api_key
    ADD CONSTRAINT api_key_pkey PRIMARY KEY (id);

ALTER TABLE ONLY billing_group
    ADD CONSTRAINT billing_group_name_key UNIQUE (name);

ALTER TABLE ONLY billing_group
    ADD CONSTRAINT billing_group_pkey PRIMARY KEY (id);

ALTER TABLE ONLY import_batch
    ADD CONSTRAINT import_batch_pkey PRIMARY KEY (id);

ALTER TABLE ONLY incident_event
    ADD CONSTRAINT incident_event_pkey PRIMARY KEY (id);

ALTER TABLE ONLY incident
    ADD CONSTRAINT incident_pkey PRIMARY KEY (id);

ALTER TABLE ONLY job_lease
    ADD CONSTRAINT job_lease_pkey PRIMARY KEY (name);

ALTER TABLE ONLY job_run
    ADD CONSTRAINT job_run_pkey PRIMARY KEY (id);

ALTER TABLE ONLY otel_metric_series
    ADD CONSTRAINT otel_metric_series_pkey PRIMARY KEY (series_key);

ALTER TABLE ONLY person_activity
    ADD CONSTRAINT person_activity_pkey PRIMARY KEY (id);

ALTER TABLE ONLY person
    ADD CONSTRAINT person_email_key UNIQUE (email);

ALTER TABLE ONLY person
    ADD CONSTRAINT person_pkey PRIMARY KEY (id);

ALTER TABLE ONLY usage_event
    ADD CONSTRAINT pk_usage_event PRIMARY KEY (source, day, ts_ms, natural_key);

ALTER TABLE ONLY setting
    ADD CONSTRAINT setting_pkey PRIMARY KEY (key);

ALTER TABLE ONLY slack_delivery
    ADD CONSTRAINT slack_delivery_pkey PRIMARY KEY (delivery_key);

ALTER TABLE ONLY slack_file_import
    ADD CONSTRAINT slack_file_import_pkey PRIMARY KEY (file_id);

ALTER TABLE ONLY spend_snapshot
    ADD CONSTRAINT spend_snapshot_pkey PRIMARY KEY (id);

ALTER TABLE ONLY sync_run
    ADD CONSTRAINT sync_run_pkey PRIMARY KEY (id);

ALTER TABLE ONLY sync_state
    ADD CONSTRAINT sync_state_pkey PRIMARY KEY (id);

ALTER TABLE ONLY alert_outbox
    ADD CONSTRAINT uq_alert_outbox_dedup UNIQUE (dedup_key);

ALTER TABLE ONLY anomaly
    ADD CONSTRAINT uq_anomaly UNIQUE (kind, subject, day);

ALTER TABLE ONLY api_key
    ADD CONSTRAINT uq_api_key_external UNIQUE (source, external_id);

ALTER TABLE ONLY person_activity
    ADD CONSTRAINT uq_person_activity UNIQUE (source, day, person, natural_key);

ALTER TABLE ONLY spend_snapshot
    ADD CONSTRAINT uq_spend_snapshot UNIQUE (source, org, cycle_start, email);

ALTER TABLE ONLY sync_state
    ADD CONSTRAINT uq_sync_state UNIQUE (source, org, stream);

ALTER TABLE ONLY vendor_analytics
    ADD CONSTRAINT uq_vendor_analytics UNIQUE (source, org, metric, day, key);

ALTER TABLE ONLY vendor_cost
    ADD CONSTRAINT uq_vendor_cost UNIQUE (source, natural_key);

ALTER TABLE ONLY vendor_user_analytics
    ADD CONSTRAINT uq_vendor_user_analytics UNIQUE (source, org, person, metric, day, key);

ALTER TABLE ONLY usage_daily
    ADD CONSTRAINT usage_daily_pkey PRIMARY KEY (day, source, person, model);

ALTER TABLE ONLY usage_model_day
    ADD CONSTRAINT usage_model_day_pkey PRIMARY KEY (day, source, model);

ALTER TABLE ONLY usage_person_day
    ADD CONSTRAINT usage_person_day_pkey PRIMARY KEY (day, source, person);

ALTER TABLE ONLY usage_person_total_day
    ADD CONSTRAINT usage_person_total_day_pkey PRIMARY KEY (day, person);

ALTER TABLE ONLY vendor_analytics
    ADD CONSTRAINT vendor_analytics_pkey PRIMARY KEY (id);

ALTER TABLE ONLY vendor_cost
    ADD CONSTRAINT vendor_cost_pkey PRIMARY KEY (id);

ALTER TABLE ONLY vendor_user_analytics
    ADD CONSTRAINT vendor_user_analytics_pkey PRIMARY KEY (id);

CREATE INDEX ix_alert_outbox_batch ON alert_outbox USING btree (batch);

CREATE INDEX ix_alert_outbox_due ON alert_outbox USING btree (status, next_attempt_at);

CREATE INDEX ix_alert_outbox_status ON alert_outbox USING btree (status);

CREATE INDEX ix_anomaly_day ON anomaly USING btree (day);

CREATE INDEX ix_anomaly_incident_id ON anomaly USING btree (incident_id);

CREATE INDEX ix_api_key_name ON api_key USING btree (name);

CREATE INDEX ix_import_batch_sha256 ON import_batch USING btree (sha256);

CREATE INDEX ix_incident_dedup_key ON incident USING btree (dedup_key);

CREATE INDEX ix_incident_event_incident_id ON incident_event USING btree (incident_id);

CREATE INDEX ix_job_run_job_started ON job_run USING btree (job, started_at);

CREATE INDEX ix_person_activity_day ON person_activity USING btree (day);

CREATE INDEX ix_person_activity_person ON person_activity USING btree (person);

CREATE INDEX ix_person_slack_user_id ON person USING btree (slack_user_id);

CREATE INDEX ix_slack_delivery_received_ms ON slack_delivery USING btree (received_ms);

CREATE INDEX ix_sync_run_source ON sync_run USING btree (source);

CREATE INDEX ix_usage_daily_person ON usage_daily USING btree (person, day);

CREATE INDEX ix_usage_event_api_key ON usage_event USING btree (source, api_key) WHERE (api_key IS NOT NULL);

CREATE INDEX ix_usage_event_claude_person_day ON usage_event USING btree (day, person, feed) WHERE ((source)::text = 'claude_code'::text);

CREATE INDEX ix_usage_event_live_day ON usage_event USING btree (day, person) WHERE (((source)::text = 'claude_code'::text) AND (((feed)::text = 'cc_otel_events'::text) OR ((feed)::text = 'cc_otel_metrics'::text)));

CREATE INDEX ix_usage_person_day_person ON usage_person_day USING btree (person, day);

CREATE INDEX ix_usage_person_total_day_person ON usage_person_total_day USING btree (person, day);

CREATE INDEX ix_vendor_analytics_day ON vendor_analytics USING btree (day);

CREATE INDEX ix_vendor_cost_day ON vendor_cost USING btree (day);

CREATE INDEX ix_vendor_user_analytics_day ON vendor_user_analytics USING btree (day);

CREATE INDEX ix_vendor_user_analytics_person_day ON vendor_user_analytics USING btree (person, day);

CREATE UNIQUE INDEX uq_incident_open_subject ON incident USING btree (dedup_key) WHERE ((status)::text <> 'resolved'::text);

CREATE UNIQUE INDEX uq_job_run_tick ON job_run USING btree (job, tick);

ALTER TABLE ONLY alert_outbox
    ADD CONSTRAINT alert_outbox_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES incident(id);

ALTER TABLE ONLY anomaly
    ADD CONSTRAINT anomaly_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES incident(id);

ALTER TABLE ONLY incident_event
    ADD CONSTRAINT incident_event_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES incident(id);

ALTER TABLE ONLY person
    ADD CONSTRAINT person_group_id_fkey FOREIGN KEY (group_id) REFERENCES billing_group(id);

ALTER TABLE ONLY slack_file_import
    ADD CONSTRAINT slack_file_import_import_batch_id_fkey FOREIGN KEY (import_batch_id) REFERENCES import_batch(id);
