-- The srft views (format 1.0), documented column by column in spec/views.md.
--
-- They read three relations, one row per record with a `dataset` column added:
--   srft_trajectory_files   trajectory records in the Parquet layout (e.g. read_parquet('ds/trajectories/*.parquet'))
--   srft_verdict_files      sidecar verdict records (read_parquet('ds/verdicts/*.parquet'))
--   srft_manifest_annotators  the annotators declared in manifest.json (parameters as JSON text)
-- `srft query` defines them from each dataset's manifest; define them yourself to run this file in any DuckDB.

CREATE OR REPLACE TEMP VIEW trajectories AS
SELECT
    dataset,
    id,
    format_version,
    task.instance_id AS instance_id,
    task.dataset AS task_dataset,
    task.repo AS repo,
    task.base_commit AS base_commit,
    agent.scaffold AS scaffold,
    agent.scaffold_version AS scaffold_version,
    agent.model AS model,
    outcome.exit_status AS exit_status,
    outcome.resolved AS resolved,
    coalesce(length(outcome.patch), 0) > 0 AS has_patch,
    coalesce(len(steps), 0) AS n_steps,
    coalesce(len(verdicts), 0) AS n_inline_verdicts,
    coalesce(usage.prompt_tokens, list_sum(list_transform(steps, lambda s: s.usage.prompt_tokens)))::BIGINT
        AS prompt_tokens,
    coalesce(usage.completion_tokens, list_sum(list_transform(steps, lambda s: s.usage.completion_tokens)))::BIGINT
        AS completion_tokens,
    coalesce(usage.cost, list_sum(list_transform(steps, lambda s: s.usage.cost))) AS cost,
    provenance.api_calls AS api_calls,
    list_sum(list_transform(steps, lambda s: s.duration_s)) AS duration_s,
    provenance.source_format AS source_format,
    provenance.source_file AS source_file,
    provenance.messages AS messages_provenance
FROM srft_trajectory_files;

CREATE OR REPLACE TEMP VIEW steps AS
WITH unnested AS (
    SELECT dataset, id AS trajectory_id, outcome.resolved AS resolved, len(steps) AS n_steps, unnest(steps) AS s
    FROM srft_trajectory_files
)
SELECT
    dataset,
    trajectory_id,
    s.index AS step,
    n_steps,
    s.index / n_steps AS position,
    (10 * s.index // n_steps)::INTEGER AS decile,
    s.output AS output,
    coalesce(len(s.observations), 0) AS n_observations,
    coalesce(len(s.actions), 0) AS n_actions,
    s.actions[1].kind AS action_kind,
    s.actions[1].command AS command,
    s.actions[1].tool AS tool,
    coalesce(list_transform(s.actions, lambda a: a.kind), []) AS action_kinds,
    coalesce(s.exclude, []) AS exclude,
    coalesce(len(s.exclude), 0) > 0 AS excluded,
    s.started_at AS started_at,
    s.duration_s AS duration_s,
    s.usage.prompt_tokens AS prompt_tokens,
    coalesce(s.usage.completion_tokens, len(s.tokens.completion_token_ids)) AS completion_tokens,
    s.usage.cached_tokens AS cached_tokens,
    s.usage.cost AS cost,
    resolved
FROM unnested;

CREATE OR REPLACE TEMP VIEW messages AS
WITH unnested AS (
    SELECT dataset, id AS trajectory_id, unnest(messages) AS m, generate_subscripts(messages, 1) - 1 AS message
    FROM srft_trajectory_files
)
SELECT
    dataset,
    trajectory_id,
    message,
    m.role AS role,
    m.content AS content,
    m.content_parts AS content_parts,
    m.reasoning AS reasoning,
    coalesce(len(m.tool_calls), 0) AS n_tool_calls,
    coalesce(list_transform(m.tool_calls, lambda c: c.name), []) AS tool_names,
    m.tool_call_id AS tool_call_id,
    m.name AS name,
    coalesce(length(m.content), 0)
        + coalesce(list_sum(list_transform(m.content_parts, lambda p: coalesce(length(p.text), 0))), 0)::BIGINT AS chars
FROM unnested;

CREATE OR REPLACE TEMP VIEW verdicts AS
WITH inline AS (
    SELECT dataset, id AS trajectory_id, unnest(verdicts) AS v, generate_subscripts(verdicts, 1) AS ordinal
    FROM srft_trajectory_files
)
SELECT dataset, trajectory_id, v.step AS step, v.annotator AS annotator, v.label AS label, v.score AS score,
       v.rationale AS rationale, v.created_at AS created_at, 'inline' AS source, ordinal
FROM inline
UNION ALL
SELECT dataset, trajectory AS trajectory_id, step, annotator, label, score, rationale, created_at,
       'sidecar' AS source, 0 AS ordinal
FROM srft_verdict_files;

CREATE OR REPLACE TEMP VIEW annotators AS
SELECT dataset, id, kind, model, prompt, prompt_sha256, description, parameters,
       CASE WHEN coalesce(evidence, '') = '' THEN []::VARCHAR[] ELSE string_split(evidence, ',') END AS evidence,
       priority_class
FROM srft_manifest_annotators;
