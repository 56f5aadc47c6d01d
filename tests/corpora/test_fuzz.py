"""Fuzzing every reader: mutated corpora end in a clean error or a fully accounted conversion.

The harness, the byte-level mutations and the checks are in corpora_fuzz.py.
This module holds, per format, valid seed corpora, the structural mutations
that only make sense for that format (BRAT file names, XML nesting, JSON
keys and values, PubTator columns, CoNLL tags), and the oracle: an
independent count of the annotations an input holds, written from the
format's definition and sharing no code with the readers.

The number of examples per format is fixed and derandomized (CI); run with
``--fuzz-long`` for thousands (see conftest.py).
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from corpora_fuzz import BYTE_MUTATIONS, Expected, Files, fuzz, lines_of
from hypothesis import strategies as st
from spacy.language import Language

from spacy_bioner.corpora.convert import make_nlp


@pytest.fixture(scope="module")
def nlp() -> Language:
    return make_nlp()


def _t(ann_id: str, label: str, text: str, *mentions: str) -> str:
    """A BRAT T line whose fragments are the first occurrences of ``mentions``."""
    frags = [(text.index(m), text.index(m) + len(m)) for m in mentions]
    spec = ";".join(f"{s} {e}" for s, e in frags)
    return f"{ann_id}\t{label} {spec}\t{' '.join(mentions)}\n"


# -- BRAT ----------------------------------------------------------------------------------------
TEXT_A = "Mutations in BRCA1 cause breast cancer. TP53 is also mutated.\n"
TEXT_D = "IL-2 binds CD25 and activates STAT5.\n"
BRAT_SEEDS: list[Files] = [
    {
        "a.txt": TEXT_A.encode(),
        "a.ann": (_t("T1", "Gene", TEXT_A, "BRCA1") + _t("T2", "Disease", TEXT_A, "breast cancer")
                  + _t("T3", "Gene", TEXT_A, "TP53") + _t("T4", "Disease", TEXT_A, "cancer")
                  + _t("T5", "Disease", TEXT_A, "Mutations", "breast")
                  + "N1\tReference T1 HGNC:1100\tBRCA1\nR1\tAssoc Arg1:T1 Arg2:T2\nA1\tNegated T3\n"
                  + "#1\tAnnotatorNotes T1\tchecked\n*\tEquiv T2 T4\n").encode(),
        "b.txt": b"Ovarian cancer is rare.\n",
        "b.ann": _t("T1", "Disease", "Ovarian cancer is rare.\n", "Ovarian cancer").encode(),
        "c.txt": b"No annotation file.\n",
    },
    {
        "d.txt": TEXT_D.encode(),
        "d.a1": (_t("T1", "Protein", TEXT_D, "IL-2") + _t("T2", "Protein", TEXT_D, "CD25")
                 + _t("T3", "Protein", TEXT_D, "STAT5")).encode(),
        "d.a2": (_t("T4", "Binding", TEXT_D, "binds") + "E1\tBinding:T4 Theme:T1 Theme2:T2\n"
                 + _t("T5", "Positive_regulation", TEXT_D, "activates") + "E2\tPositive_regulation:T5 Theme:T3\n"
                 + _t("T6", "Entity", TEXT_D, "CD25") + "M1\tNegation E1\n").encode(),
    },
]
_BRAT_ENDINGS = (".txt", ".ann", ".a1", ".a2")


def brat_oracle(files: Files) -> Expected | None:
    """T lines of every annotation file (endings in any case), minus .a2 event triggers."""
    total = triggers = documents = 0
    for name, content in files.items():
        ending = name[name.rfind("."):].lower() if "." in name else ""
        if ending == ".txt":
            documents += 1
        if ending not in _BRAT_ENDINGS[1:]:
            continue
        lines = lines_of(content)
        if lines is None:
            return None
        ids, refs = [], set()
        for line in lines:
            first, tab, rest = line.partition("\t")
            if not tab:
                continue
            if first.strip().startswith("T"):
                ids.append(first.strip())
            elif first.strip().startswith("E") and rest.split("\t")[0].split():
                refs.add(rest.split("\t")[0].split()[0].partition(":")[2])
        total += len(ids)
        if ending == ".a2":
            triggers += sum(1 for i in ids if i in refs)
    return Expected(total - triggers, {"event triggers": triggers}, documents)


def _brat_rename(data: st.DataObject, files: Files) -> Files:
    """Upper-case an ending, or move a file to another name (leaving an annotation file alone)."""
    name = data.draw(st.sampled_from(sorted(files)), label="file")
    stem, _, ending = name.rpartition(".")
    new = data.draw(st.sampled_from([f"{stem}.{ending.upper()}", f"x{stem}.{ending}", f"{stem}.{ending}.bak"]),
                    label="new name")
    out = {k: v for k, v in files.items() if k != name}
    out[new] = files[name]
    return out


def _brat_remove(data: st.DataObject, files: Files) -> Files:
    if len(files) < 2:
        return files
    name = data.draw(st.sampled_from(sorted(files)), label="removed")
    return {k: v for k, v in files.items() if k != name}


def test_fuzz_brat(nlp: Language, fuzz_examples: int) -> None:
    fuzz("brat", BRAT_SEEDS, brat_oracle, nlp, fuzz_examples,
         mutations=BYTE_MUTATIONS + [_brat_rename, _brat_remove], labels=["Gene", "Disease", "Protein"])


# -- BioC XML --------------------------------------------------------------------------------------
TITLE = "Aspirin relieves headache."
ABSTRACT = "Aspirin is an NSAID. It may cause ulcers."


def _ann_xml(ann_id: str | None, label: str, locs: list[tuple[int, int]], text: str) -> str:
    attr = f' id="{ann_id}"' if ann_id is not None else ""
    loc = "".join(f'<location offset="{o}" length="{n}"/>' for o, n in locs)
    return f'<annotation{attr}><infon key="type">{label}</infon>{loc}<text>{text}</text></annotation>\n'


XML_SEED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE collection SYSTEM "BioC.dtd">\n'
    "<collection><source>fuzz</source><date>2024</date><key>BioC.key</key>\n"
    '<document><id>101</id><infon key="journal">J Test</infon>\n'
    f'<passage><infon key="type">title</infon><offset>0</offset><text>{TITLE}</text>\n'
    + _ann_xml("0", "Chemical", [(0, 7)], "Aspirin") + _ann_xml("1", "Disease", [(17, 8)], "headache")
    + f'</passage>\n<passage><infon key="type">abstract</infon><offset>27</offset><text>{ABSTRACT}</text>\n'
    + _ann_xml("2", "Chemical", [(27, 7)], "Aspirin") + _ann_xml("3", "Disease", [(61, 6)], "ulcers")
    + _ann_xml("4", "Disease", [(27, 7), (61, 6)], "Aspirin ulcers")
    + '<relation id="R1"><infon key="type">CID</infon><node refid="2" role="Chemical"/>'
      '<node refid="3" role="Disease"/></relation>\n</passage>\n'
    + _ann_xml("5", "Disease", [(61, 6)], "ulcers")
    + '<annotation id="6"><infon key="type">Chemical</infon><text>NSAID</text></annotation>\n</document>\n'
    "<document><id>102</id><passage><offset>0</offset>\n"
    "<sentence><offset>0</offset><text>BRCA1 is a gene.</text>\n" + _ann_xml("s1", "Gene", [(0, 5)], "BRCA1")
    + "</sentence>\n<sentence><offset>17</offset><text>It causes cancer.</text>\n"
    + _ann_xml(None, "Disease", [(27, 6)], "cancer") + "</sentence></passage></document>\n</collection>\n"
).encode()
_XML_ANNOTATION = re.compile(rb"<annotation\b.*?</annotation>\n?", re.S)
_XML_CLOSING = re.compile(rb"</[a-z]+>")


def xml_oracle(files: Files) -> Expected | None:
    """Every <annotation> element anywhere in the tree; those without <location> are skipped."""
    (content,) = files.values()
    try:
        root = ET.fromstring(content)
    except Exception:  # any parse failure: the converter must fail too
        return None
    anns = list(root.iter("annotation"))
    located = sum(1 for a in anns if a.find("location") is not None)
    return Expected(located, {"annotations without location": len(anns) - located}, len(list(root.iter("document"))))


def _xml_edit(fn):  # noqa: ANN001, ANN202
    def mutation(data: st.DataObject, files: Files) -> Files:
        (name,) = files
        return {name: fn(data, files[name])}
    mutation.__name__ = fn.__name__
    return mutation


@_xml_edit
def _xml_move_annotation(data: st.DataObject, content: bytes) -> bytes:
    """Move an annotation anywhere a closing tag is: under the document, into a relation, text, infon..."""
    anns = list(_XML_ANNOTATION.finditer(content))
    if not anns:
        return content
    m = data.draw(st.sampled_from(anns), label="annotation")
    rest = content[:m.start()] + content[m.end():]
    places = [c.start() for c in _XML_CLOSING.finditer(rest)]
    if not places:
        return content
    i = data.draw(st.sampled_from(places), label="place")
    return rest[:i] + m.group() + rest[i:]


@_xml_edit
def _xml_rename_tag(data: st.DataObject, content: bytes) -> bytes:
    """Misspell an element name, in its start tag, its end tag or both."""
    tag = data.draw(st.sampled_from([b"annotation", b"passage", b"sentence", b"location", b"document",
                                     b"offset", b"text", b"infon", b"id", b"relation"]), label="tag")
    new = data.draw(st.sampled_from([tag[:-1], tag + b"s", b"x" + tag]), label="new name")
    which = data.draw(st.sampled_from(["first", "all"]), label="which")
    pattern = re.compile(rb"(</?)" + tag + rb"\b")
    return pattern.sub(rb"\1" + new, content, count=1 if which == "first" else 0)


@_xml_edit
def _xml_nest(data: st.DataObject, content: bytes) -> bytes:
    """Wrap elements in an unknown element, or nest empty elements very deep."""
    places = [c.start() for c in _XML_CLOSING.finditer(content)]
    if not places:
        return content
    i = data.draw(st.sampled_from(places), label="place")
    depth = data.draw(st.sampled_from([1, 10, 1000, 100_000]), label="depth")
    return content[:i] + b"<x>" * depth + b"</x>" * depth + content[i:]


@_xml_edit
def _xml_declaration(data: st.DataObject, content: bytes) -> bytes:
    """Declare another encoding, or an internal DTD with entities."""
    new = data.draw(st.sampled_from([b"foo", b"latin-1", b"utf-16", b"shift_jis", b"ascii", b"rot13", b"utf-8"]),
                    label="encoding")
    if data.draw(st.booleans(), label="entities"):
        dtd = (b'<!DOCTYPE collection [<!ENTITY a "Aspirin"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
               b'<!ENTITY ext SYSTEM "file:///etc/hostname">]>')
        content = content.replace(b'<!DOCTYPE collection SYSTEM "BioC.dtd">', dtd)
        content = content.replace(b"<text>Aspirin", data.draw(st.sampled_from([b"<text>&a;", b"<text>&b;",
                                                                                b"<text>&ext;"])), 1)
    return content.replace(b'encoding="UTF-8"', b'encoding="' + new + b'"')


def test_fuzz_bioc_xml(nlp: Language, fuzz_examples: int) -> None:
    fuzz("bioc-xml", [{"corpus.xml": XML_SEED}], xml_oracle, nlp, fuzz_examples,
         mutations=BYTE_MUTATIONS + [_xml_move_annotation, _xml_rename_tag, _xml_nest, _xml_declaration] * 2,
         labels=["Chemical", "Disease", "Gene"], single_file=True)


# -- BioC JSON -------------------------------------------------------------------------------------
def _ann_json(ann_id: object, label: object, locs: list[tuple[int, int]], text: str) -> dict:
    return {"id": ann_id, "infons": {"type": label, "identifier": "-"}, "text": text,
            "locations": [{"offset": o, "length": n} for o, n in locs]}


JSON_SEED = {
    "source": "fuzz", "date": "2024", "key": "BioC.key", "infons": {},
    "documents": [
        {"id": "101", "bioctype": "BioCDocument", "pmid": 101, "infons": {"journal": "J Test"},
         "passages": [
             {"offset": 0, "infons": {"type": "title"}, "text": TITLE,
              "annotations": [_ann_json("0", "Chemical", [(0, 7)], "Aspirin"),
                              _ann_json("1", "Disease", [(17, 8)], "headache")]},
             {"offset": 27, "infons": {"type": "abstract"}, "text": ABSTRACT, "sentences": [],
              "annotations": [_ann_json(2, "Chemical", [(27, 7)], "Aspirin"),
                              _ann_json("3", "Disease", [(61, 6)], "ulcers"),
                              _ann_json("4", "Disease", [(27, 7), (61, 6)], "Aspirin ulcers")],
              "relations": [{"id": "R1", "infons": {"type": "CID"},
                             "nodes": [{"refid": "2", "role": "Chemical"}, {"refid": "3", "role": "Disease"}]}]}],
         "annotations": [_ann_json("5", "Disease", [(61, 6)], "ulcers"),
                         {"id": "6", "infons": {"type": "Chemical"}, "text": "NSAID", "locations": []}],
         "relations": []},
        {"id": 0, "passages": [{"offset": 0, "sentences": [
            {"offset": 0, "text": "BRCA1 is a gene.", "annotations": [_ann_json("s1", "Gene", [(0, 5)], "BRCA1")]},
            {"offset": 17, "text": "It causes cancer.", "annotations": [_ann_json(None, "Disease", [(27, 6)], "cancer")]},
        ]}]},
    ],
}


class _Pairs(list):
    """A JSON object as its list of (key, value) pairs, duplicates kept."""


def json_oracle(files: Files) -> Expected | None:
    """Every object in an "annotations" list or with a "locations" key, anywhere, duplicate keys included."""
    (content,) = files.values()
    try:
        data = json.loads(content.decode("utf-8").removeprefix("\ufeff"), object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return None
    located = unlocated = 0
    stack = [(data, False)]
    while stack:
        item, listed = stack.pop()
        if isinstance(item, _Pairs):
            keys = [k for k, _ in item]
            if listed or "locations" in keys:
                locs = [v for k, v in item if k == "locations"]
                if locs and isinstance(locs[-1], list) and locs[-1]:
                    located += 1
                else:
                    unlocated += 1
            stack.extend((v, k == "annotations") for k, v in item)
        elif isinstance(item, list):
            # the items of an "annotations" list are annotations; a list nested in it is not
            stack.extend((v, listed and type(v) is not list) for v in item)
    return Expected(located, {"annotations without location": unlocated})


def _dump(data: st.DataObject, obj: object) -> bytes:
    indent = data.draw(st.sampled_from([None, 1, 2]), label="indent")
    text = json.dumps(obj, indent=indent, ensure_ascii=data.draw(st.booleans(), label="ascii"))
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate then becomes invalid UTF-8


def _objects(obj: object) -> list[dict]:
    out, stack = [], [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            out.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


JSON_VALUES = [0, None, "", -1, 10**12, 1.5, "0", [], {}, True, "\ud800", "x\udfffy", [[[]]], {"a": {"b": []}},
               "Disease", " ", "\u00a0"]


def _json_structure(data: st.DataObject, files: Files) -> Files:
    """Rename a key, set a value, move an annotation somewhere else, or nest deep (on a parsed copy)."""
    (name,) = files
    try:
        obj = json.loads(files[name])
    except (ValueError, RecursionError):
        return files
    objects = _objects(obj)
    target = data.draw(st.sampled_from(objects), label="object")
    how = data.draw(st.sampled_from(["rename", "set", "move", "nest", "duplicate"]), label="how")
    if how in ("rename", "set", "duplicate") and target:
        key = data.draw(st.sampled_from(sorted(target)), label="key")
        if how == "rename":
            new = data.draw(st.sampled_from([key[:-1], key + "s", key.upper(), "passages", "annotations",
                                             "locations", "documents"]), label="new key")
            target[new] = target.pop(key)
        elif how == "set":
            target[key] = data.draw(st.sampled_from(JSON_VALUES), label="value")
        else:
            marker = "@@duplicate@@"
            target[marker] = data.draw(st.sampled_from(JSON_VALUES + [[_ann_json("d", "X", [(0, 1)], "A")]]))
            return {name: _dump(data, obj).replace(f'"{marker}"'.encode(), f'"{key}"'.encode())}
    elif how == "move":
        anns = [o for o in objects if "locations" in o]
        if anns:
            ann = data.draw(st.sampled_from(anns), label="annotation")
            for o in objects:
                for v in o.values():
                    if isinstance(v, list) and any(x is ann for x in v):
                        v[:] = [x for x in v if x is not ann]
            key = data.draw(st.sampled_from(["annotations", "relations", "x", "infons", "locations", "text"]))
            target[key] = [ann] if key != "x" else ann
    elif how == "nest":
        depth = data.draw(st.sampled_from([10, 500, 5000, 100_000]), label="depth")
        marker = "@@nest@@"
        target[marker] = 0
        return {name: _dump(data, obj).replace(f'"{marker}": 0'.encode(),
                                               b'"n": ' + b"[" * depth + b"]" * depth)}
    return {name: _dump(data, obj)}


def test_fuzz_bioc_json(nlp: Language, fuzz_examples: int) -> None:
    seed = {"corpus.json": json.dumps(JSON_SEED, indent=1).encode()}
    fuzz("bioc-json", [seed], json_oracle, nlp, fuzz_examples,
         mutations=BYTE_MUTATIONS + [_json_structure] * 8, labels=["Chemical", "Disease", "Gene"],
         single_file=True)


# -- PubTator --------------------------------------------------------------------------------------
def _pubtator_doc(pmid: str, title: str, abstract: str, mentions: list[tuple[str, str, str]], *extra: str) -> str:
    """A PubTator block whose mention offsets are the first occurrences in ``title + "\\n" + abstract``."""
    text = f"{title}\n{abstract}"
    lines = [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}"]
    lines += [f"{pmid}\t{text.index(m)}\t{text.index(m) + len(m)}\t{m}\t{label}\t{kb}" for m, label, kb in mentions]
    return "\n".join([*lines, *(f"{pmid}\t{x}" for x in extra)]) + "\n"


PUBTATOR_SEED = (
    _pubtator_doc("2001", "Cisplatin nephrotoxicity in rats",
                  "Cisplatin induced acute kidney injury and hearing loss. Amifostine reduced renal and auditory damage.",
                  [("Cisplatin", "Chemical", "D002945"), ("nephrotoxicity", "Disease", "D007674"),
                   ("acute kidney injury", "Disease", "D058186"), ("hearing loss", "Disease", "-1"),
                   ("Amifostine", "Chemical", "D004999"),
                   ("renal and auditory damage", "Disease", "D007674|D006311\trenal damage|auditory damage")],
                  "CID\tD002945\tD007674")
    + "\n"
    + _pubtator_doc("2002", "TP53 in breast cancer", "Somatic TP53 mutations are frequent in breast cancer.",
                    [("TP53", "Gene", "7157"), ("breast cancer", "Disease", "D001943"), ("breast", "Anatomy", "")],
                    "Association\t7157\tD001943\tNovel")
).encode()


def pubtator_oracle(files: Files) -> Expected | None:
    """Lines with a TAB whose second column is not a relation type (one starting with a letter);
    one document per run of non-blank lines."""
    (content,) = files.values()
    lines = lines_of(content)
    if lines is None:
        return None
    mentions = documents = 0
    in_block = False
    for line in lines:
        if not line.strip(" \t"):
            in_block = False
            continue
        documents += not in_block
        in_block = True
        cols = line.split("\t")
        first = cols[1].strip()[:1] if len(cols) > 1 else ""
        mentions += len(cols) >= 3 and not (first.isascii() and first.isalpha())
    return Expected(mentions, documents=documents)


def _pubtator_column(data: st.DataObject, files: Files) -> Files:
    """Replace one column of a mention or relation line."""
    (name,) = files
    lines = files[name].split(b"\n")
    tabbed = [i for i, line in enumerate(lines) if b"\t" in line]
    if not tabbed:
        return files
    i = data.draw(st.sampled_from(tabbed), label="line")
    cols = lines[i].split(b"\t")
    k = data.draw(st.integers(0, len(cols) - 1), label="column")
    cols[k] = data.draw(st.sampled_from([b"", b"0.0", b"+0", b"-1", b" 5", b"CID", b"\xd9\xa1", b"10",
                                         b"1002", b"x|t|y", b"Disease"]), label="value")
    lines[i] = b"\t".join(cols)
    return {name: b"\n".join(lines)}


def test_fuzz_pubtator(nlp: Language, fuzz_examples: int) -> None:
    fuzz("pubtator", [{"corpus.pubtator": PUBTATOR_SEED}], pubtator_oracle, nlp, fuzz_examples,
         mutations=BYTE_MUTATIONS + [_pubtator_column] * 3, labels=["Chemical", "Disease", "Gene"],
         single_file=True)


# -- CoNLL -------------------------------------------------------------------------------------------
CONLL_SEEDS: list[Files] = [
    {"corpus.tsv": (b"-DOCSTART-\tO\n\nIL-2\tB-protein\ngene\tB-DNA\nexpression\tI-DNA\nin\tO\nT\tB-cell_type\n"
                    b"cells\tI-cell_type\n\nNF-kappa\tB-protein\nB\tI-protein\n.\tO\n\n-DOCSTART-\tO\n\n"
                    b"STAT5\tB-protein\nbinds\tO\nDNA\tB-DNA\n")},
    {"corpus.tsv": (b"Famotidine NN B-Chemical\n- HYPH O\nassociated VBN O\ndelirium NN S-Disease\n\n"
                    b"Acute JJ B-Disease\nrenal JJ I-Disease\nfailure NN E-Disease\nand CC O\nasthma NN S-Disease\n")},
]
_TAG = re.compile(r"[BIMELSU][-_].+|O")


def conll_oracle(files: Files) -> Expected | None:
    """Entity starts: a B-/S-/U- tag, or an inside tag not continuing an open entity of its type."""
    (content,) = files.values()
    lines = lines_of(content)
    if lines is None:
        return None
    entities = 0
    prev = "O"
    for line in lines:
        cols = [c.strip(" ") for c in line.split("\t")] if "\t" in line else line.split(" ")
        cols = [c for c in cols if c] if "\t" not in line else cols
        while cols and not cols[-1]:
            cols.pop()
        if not cols or cols[0] == "-DOCSTART-":
            prev = "O"
            continue
        tag = cols[-1]
        if tag != "O" and _TAG.fullmatch(tag):
            continues = prev[0] in "BIM" and prev[2:] == tag[2:] and tag[0] in "IMEL"
            entities += not continues
        prev = tag if _TAG.fullmatch(tag) else "O"
    return Expected(entities)


def _conll_tag(data: st.DataObject, files: Files) -> Files:
    """Replace the tag of one line."""
    (name,) = files
    lines = files[name].split(b"\n")
    tagged = [i for i, line in enumerate(lines) if line.strip()]
    if not tagged:
        return files
    i = data.draw(st.sampled_from(tagged), label="line")
    head, sep, _ = lines[i].rpartition(b"\t" if b"\t" in lines[i] else b" ")
    new = data.draw(st.sampled_from([b"O", b"B-X", b"I-X", b"E-X", b"S-X", b"B-", b"X-Y", b"I-protein",
                                     b"M-DNA", b"U-Z", b"L-Z", b"o", b"B_X", b"I-\xc2\xa0"]), label="tag")
    lines[i] = head + sep + new
    return {name: b"\n".join(lines)}


def test_fuzz_conll(nlp: Language, fuzz_examples: int) -> None:
    fuzz("conll", CONLL_SEEDS, conll_oracle, nlp, fuzz_examples,
         mutations=BYTE_MUTATIONS + [_conll_tag] * 3, labels=["protein", "DNA", "Disease"], single_file=True)


def test_seeds_convert_cleanly(nlp: Language, tmp_path) -> None:  # noqa: ANN001
    """The seeds themselves are valid: every format converts them with the oracle's counts."""
    from corpora_fuzz import run_case

    cases: list[tuple[str, Files, object, bool]] = [
        *[("brat", seed, brat_oracle, False) for seed in BRAT_SEEDS],
        ("bioc-xml", {"corpus.xml": XML_SEED}, xml_oracle, True),
        ("bioc-json", {"corpus.json": json.dumps(JSON_SEED).encode()}, json_oracle, True),
        ("pubtator", {"corpus.pubtator": PUBTATOR_SEED}, pubtator_oracle, True),
        *[("conll", seed, conll_oracle, True) for seed in CONLL_SEEDS],
    ]
    for fmt, files, oracle, single in cases:
        assert run_case(fmt, files, oracle, nlp, single_file=single, sentences=False, dropped_label=None) == \
            "converted", fmt
        expected = oracle(files)
        assert expected is not None and expected.annotations > 0
