"""Critics that label agent steps, each declared as an :class:`~srft_format.models.Annotator`.

============  =================================================================================================
module        what it is
============  =================================================================================================
``base``      the :class:`~.base.Critic` interface every critic implements
``registry``  every critic ``srft annotate --critic`` runs, its modes and evidence (``--list``), built from options
``modes``     per-step, hindsight, trajectory, first-error: what one call shows, and the evidence it declares
``prompts``   versioned templates (``annotators/prompts/``) and users' own, rendered in Jinja's sandbox
``runner``    runs a critic over a dataset: resume, ``--prefilter``, batched atomic commits, progress
``rules``     cheap, explainable rule critics (``srft annotate --list-rules``); only ever say ``incorrect``
``outcome``   every step of a resolved trajectory is ``correct`` (RFT as verdicts)
``llm``       LLM critic over any OpenAI-compatible endpoint, every mode (``chat_http``, ``budget``, ``cache``)
``local``     a transformers model on this machine; the default SmolLM2-135M only proves the pipeline runs
``human``     labeling sheets (CSV/JSONL) out and back in
``agreement`` confusion matrix, precision/recall/F1 for ``incorrect``, Cohen's kappa
============  =================================================================================================

How good is a critic? Label a sample by hand (``human``), then ``srft agree DATA --a CRITIC --b HUMAN``.
"""
