"""The SQL of `srft query`, `srft stats` and `srft report`: the views (spec/views.md), one file per figure."""
