-- srft stats: one row per step with what every figure needs, computed once per run (one scan of the steps,
-- one resolution of the verdicts) and kept as a temporary table: the step's group, position decile,
-- effective label and weights under SFT, RFT and SRFT. Reads training_signal and stats_groups.
CREATE OR REPLACE TEMP TABLE stats_steps AS
SELECT
    g.grp,
    t.decile,
    t.completion_tokens,
    t.effective_label AS label,
    t.sft_weight,
    t.rft_weight,
    t.srft_weight
FROM training_signal t
JOIN stats_groups g USING (dataset, trajectory_id);
