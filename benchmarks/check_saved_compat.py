"""Saved pipelines of an older spacy_bioner still load and predict the same.

Trains one small pipeline per component (bioner_prompted, bioner_btl with its
k-NN, ATL, bioner_llama fp32 / QLoRA / base_weights="reference"; tiny random
models from tests/) with whatever spacy_bioner is importable, saves them with
their predictions ('save'), and later loads them with another version and
compares spans, scores and doc.ents ('check'; exit status = number of
pipelines that differ).

    git worktree add /tmp/before <old commit>
    (cd /tmp && PYTHONPATH=/tmp/before python /path/to/benchmarks/check_saved_compat.py save /tmp/compat)
    python benchmarks/check_saved_compat.py check /tmp/compat
"""
import json
import shutil
import sys
from pathlib import Path

import spacy
from spacy.training import Example
from spacy.util import fix_random_seed
from thinc.api import Adam

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny_bert import write_tiny_bert  # noqa: E402
from tiny_llama import write_tiny_llama  # noqa: E402

TRAIN = [
    ("Patients with breast cancer received tamoxifen daily .", [(14, 27, "Disease"), (37, 46, "Chemical")]),
    ("Cisplatin induced nephrotoxicity in two rats .", [(0, 9, "Chemical"), (18, 32, "Disease")]),
    ("No adverse events were seen .", []),
]
LONG_TEXT = (
    "Tamoxifen was given to women treated for breast cancer after surgery and both groups showed "
    "similar results over time while every patient had follow up visits at month one three six "
    "and twelve and two rats had lung carcinoma"
)


def make_examples(nlp, data):
    examples = []
    for text, spans in data:
        ref = nlp.make_doc(text)
        group = [ref.char_span(s, e, label=label) for s, e, label in spans]
        ref.spans["sc"] = group
        ref.set_ents(spacy.util.filter_spans(group), default="outside")
        ref.user_data["bioner_source"] = {"doc_id": "d1"}
        examples.append(Example(nlp.make_doc(text), ref))
    return examples

TEXTS = [t for t, _ in TRAIN] + [LONG_TEXT, "Rats with breast cancer received cisplatin daily .", "", "Tamoxifen ."]

def predictions(nlp):
    out = []
    for doc in nlp.pipe(TEXTS):
        out.append({k: [[s.start_char, s.end_char, s.label_, float(x)] for s, x in zip(doc.spans[k], doc.spans[k].attrs.get("scores", []), strict=True)] for k in doc.spans}
                   | {"ents": [[e.start_char, e.end_char, e.label_] for e in doc.ents]})
    return out

def build(kind, work):
    nlp = spacy.blank("en")
    if kind == "prompted":
        enc = write_tiny_bert(work / "bert")
        nlp.add_pipe("bioner_prompted", config={"model": {"encoder": str(enc), "dropout": 0.0, "max_length": 16}})
    elif kind == "btl":
        enc = write_tiny_bert(work / "bert")
        nlp.add_pipe("bioner_btl", config={"model": {"encoder": str(enc), "dropout": 0.0, "max_length": 16}})
    elif kind == "atl":
        enc = write_tiny_bert(work / "bert")
        nlp.add_pipe("bioner_btl", config={"loss": "atl", "model": {"encoder": str(enc), "dropout": 0.0}})
    elif kind.startswith("llama"):
        base = write_tiny_llama(work / "llama", hidden=64)
        model = {"base_model": str(base), "dropout": 0.0}
        if kind == "llama":
            model |= {"quantize_4bit": False, "lora": False}
            cfg = {"dataset": "sample"}
        elif kind == "llama_qlora":
            model |= {"quantize_4bit": True, "lora": True, "lora_dropout": 0.0}
            cfg = {"dbr": "off"}
        else:  # reference
            model |= {"quantize_4bit": True, "lora": True, "lora_dropout": 0.0, "base_weights": "reference"}
            cfg = {"dbr": "off"}
        nlp.add_pipe("bioner_llama", config={"model": model, **cfg})
    fix_random_seed(0)
    examples = make_examples(nlp, TRAIN)
    nlp.initialize(lambda: examples)
    opt = Adam(5e-3)
    for _ in range(15):
        nlp.update(examples, sgd=opt)
    if kind in ("btl", "atl"):
        pipe = nlp.get_pipe("bioner_btl")
        pipe.fit_knn(lambda: examples)
    return nlp

KINDS = ["prompted", "btl", "atl", "llama", "llama_qlora", "llama_reference"]

if __name__ == "__main__":
    mode, out = sys.argv[1], Path(sys.argv[2])
    if mode == "save":
        out.mkdir(parents=True, exist_ok=True)
        for kind in KINDS:
            work = out / ("work_" + kind)
            nlp = build(kind, work)
            nlp.to_disk(out / kind)
            (out / f"{kind}.json").write_text(json.dumps(predictions(nlp)))
            # base-model dirs stay for llama_reference (it references them); drop the rest
            if kind != "llama_reference":
                shutil.rmtree(work)
            print("saved", kind, flush=True)
    else:
        bad = 0
        for kind in KINDS:
            nlp = spacy.load(out / kind)
            got = predictions(nlp)
            want = json.loads((out / f"{kind}.json").read_text())
            same = got == want
            bad += not same
            print(kind, "IDENTICAL" if same else f"DIFFERENT\n got {got}\n want {want}", flush=True)
        sys.exit(bad)
