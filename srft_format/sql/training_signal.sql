-- training_signal: one row per step with its loss weight under SFT, RFT and SRFT, exactly as
-- srft_format.policy.TrainingPolicy.step_weights computes it. Reads effective_verdicts and the variables
--   srft_policy ('sft' | 'rft' | 'srft': which weight `weight` repeats), srft_unlabeled ('mask' | 'train'),
--   srft_soft (true: a trained SRFT step weighs its effective score, when it has one).
--   sft:  every step.   rft: every step of resolved trajectories.
--   srft: every step of resolved trajectories; elsewhere steps whose effective label is incorrect weigh 0,
--         steps without a decisive label follow srft_unlabeled.   Excluded steps always weigh 0.

CREATE OR REPLACE TEMP VIEW training_signal AS
WITH weighted AS (
    SELECT
        s.dataset, s.trajectory_id, s.step, s.decile, s.excluded, s.resolved, s.completion_tokens,
        e.label AS effective_label,
        e.score AS effective_score,
        (CASE WHEN s.excluded THEN 0 ELSE 1 END)::DOUBLE AS sft_weight,
        (CASE WHEN s.excluded OR s.resolved IS NOT TRUE THEN 0 ELSE 1 END)::DOUBLE AS rft_weight,
        CASE
            WHEN s.excluded THEN 0.0
            WHEN s.resolved THEN 1.0
            WHEN e.label IS NULL OR e.label = 'unknown' THEN
                CASE WHEN getvariable('srft_unlabeled') = 'train' THEN 1.0 ELSE 0.0 END
            WHEN e.label = 'incorrect' THEN 0.0
            WHEN getvariable('srft_soft') AND e.score IS NOT NULL THEN e.score
            ELSE 1.0
        END::DOUBLE AS srft_weight
    FROM steps s
    LEFT JOIN effective_verdicts e USING (dataset, trajectory_id, step)
)
SELECT
    *,
    CASE getvariable('srft_policy') WHEN 'sft' THEN sft_weight WHEN 'rft' THEN rft_weight ELSE srft_weight END
        AS weight
FROM weighted;
