#!/usr/bin/env python3
"""Generate (and verify) the small BRAT standoff sample corpus in ``assets/sample/brat/``.

The sample is the offline default data for spacy_bioner's workflows and tests. It
consists of 24 short, invented PubMed-style abstracts (16 train / 4 dev / 4 test)
annotated with four entity types: Disease, Chemical, Gene and Species.

Usage::

    python assets/sample/make_sample_brat.py            # (re)write the .txt/.ann files
    python assets/sample/make_sample_brat.py --check    # verify the files on disk

Standard library only.

How the data below is written
-----------------------------
Every document is its title plus a list of abstract sentences; the written text is
``title + "\\n" + " ".join(sentences) + "\\n"``. Mentions are never given as offsets:

* ``E(label, mention, occ=1)`` - a contiguous mention. ``occ`` selects the n-th
  (1-based) *token-bounded* occurrence of ``mention`` in the document text (title
  included), i.e. an occurrence whose neighbouring characters are not letters or
  digits. A hyphen is a boundary, so "IL-6" is found inside "IL-6-induced", but
  "cancer" is not found inside "anticancer". Occurrences inside longer mentions are
  counted too.
* ``E(label, mention, ALL)`` - every token-bounded occurrence, except those lying
  inside a longer (or identical) mention of the same label. Explicit mentions are
  resolved first, then ALL mentions from the longest string to the shortest.
* ``D(label, [frag1, frag2, ...], occ=1)`` - a discontinuous mention: the first
  fragment is located like ``E``; each further fragment is the next token-bounded
  occurrence after the end of the previous fragment.
* ``key="..."`` names a mention so that normalisation (``N``), relation (``R``)
  and annotator-note (``Note``) lines can refer to it.

Offsets are computed with ``str.find`` on Python strings, i.e. 0-based, end-exclusive
Unicode code point offsets, as BRAT expects.

Annotation conventions
----------------------
* Disease: diseases, disorders and adverse effects/symptoms (CDR/NCBI-disease style),
  e.g. "nephrotoxicity", "bleeding", "weight loss", "overdose". Modifiers that are
  part of the name are included ("cisplatin-induced nephrotoxicity",
  "BRCA1-associated breast cancer"); the chemical/gene inside is annotated as well
  (nested mentions). Coordinated names ("ovarian and breast cancer") get a
  discontinuous mention for the elided one.
* Chemical: drugs and chemical compounds, including drug classes ("statins") and
  abbreviations ("APAP", "MTX").
* Gene: genes and gene products (proteins, receptors, enzymes), any species.
* Species: organism names, scientific and common ("Escherichia coli", "mice",
  "ferrets") and human-denoting words ("human", "humans", "patients", "people",
  "women", "men", "children"), following the LINNAEUS convention. Strain and cell
  line names are not annotated.
Abbreviations are annotated separately from their long forms.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent / "brat"
SPLITS = ("train", "dev", "test")
LABELS = ("Disease", "Chemical", "Gene", "Species")
ALL = "all"


# --------------------------------------------------------------------------- data model


def E(label, mention, occ=1, key=None):
    """A contiguous mention (see module docstring)."""
    return {"label": label, "frags": [mention], "occ": occ, "key": key}


def D(label, fragments, occ=1, key=None):
    """A discontinuous mention made of several fragments, in text order."""
    return {"label": label, "frags": list(fragments), "occ": occ, "key": key}


def N(key, db_id):
    """A normalisation line: ``Reference`` of the mention ``key`` to ``db_id``."""
    return ("N", key, db_id)


def R(rel_type, arg1_key, arg2_key):
    """A binary relation line."""
    return ("R", rel_type, arg1_key, arg2_key)


def Note(key, text):
    """An AnnotatorNotes line attached to the mention ``key``."""
    return ("#", key, text)


@dataclass
class Doc:
    name: str
    split: str
    title: str
    sentences: list[str]
    mentions: list[dict]
    extras: list[tuple] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.title + "\n" + " ".join(self.sentences) + "\n"


# --------------------------------------------------------------------------- documents

DOCS = [
    # ------------------------------------------------------------------ train
    Doc(
        "sample-001",
        "train",
        "Germline BRCA1 and BRCA2 variants in women with ovarian and breast cancer",
        [
            "Germline mutations in BRCA1 and BRCA2 confer a high lifetime risk of ovarian "
            "and breast cancer in women.",
            "Patients with BRCA1-associated breast cancer more often presented with "
            "triple-negative breast cancer (61% vs. 18%) and responded well to olaparib and "
            "carboplatin.",
            "These data support germline testing of all women diagnosed with ovarian cancer, "
            "as recommended by Daly et al. in the current NCCN guidelines.",
        ],
        [
            E("Gene", "BRCA1", 1, key="brca1"),
            E("Gene", "BRCA1", ALL),
            E("Gene", "BRCA2", ALL),
            E("Species", "women", 1, key="women"),
            E("Species", "women", ALL),
            D("Disease", ["ovarian", "cancer"], 1, key="ovca_disc"),
            D("Disease", ["ovarian", "cancer"], 2),
            E("Disease", "breast cancer", 1, key="brca"),
            E("Disease", "BRCA1-associated breast cancer"),
            E("Disease", "triple-negative breast cancer"),
            E("Disease", "breast cancer", ALL),
            E("Disease", "ovarian cancer"),
            E("Species", "Patients"),
            E("Chemical", "olaparib", key="olaparib"),
            E("Chemical", "carboplatin"),
        ],
        [
            N("brca", "MESH:D001943"),
            N("ovca_disc", "MESH:D010051"),
            N("brca1", "NCBIGene:672"),
            N("women", "NCBITaxon:9606"),
            N("olaparib", "MESH:C531550"),
        ],
    ),
    Doc(
        "sample-002",
        "train",
        "Cilastatin attenuates cisplatin-induced nephrotoxicity in C57BL/6 mice",
        [
            "Cisplatin is a first-line chemotherapeutic agent, but acute kidney injury (AKI) "
            "develops in up to 30% of treated patients.",
            "In C57BL/6 mice, cilastatin (200 mg/kg/day) protected against cisplatin-induced "
            "nephrotoxicity by limiting megalin-mediated uptake of cisplatin into proximal "
            "tubular cells.",
        ],
        [
            E("Chemical", "Cilastatin"),
            E("Chemical", "cilastatin"),
            E("Chemical", "cisplatin", 1, key="cis"),
            E("Chemical", "cisplatin", ALL),
            E("Chemical", "Cisplatin"),
            E("Disease", "cisplatin-induced nephrotoxicity", 1, key="cin"),
            E("Disease", "cisplatin-induced nephrotoxicity", ALL),
            E("Species", "mice", ALL),
            E("Disease", "acute kidney injury", key="aki"),
            E("Disease", "AKI"),
            E("Species", "patients"),
            E("Gene", "megalin"),
        ],
        [
            N("cis", "MESH:D002945"),
            N("cin", "MESH:D007674"),
            N("aki", "MESH:D058186"),
            R("Causes", "cis", "cin"),
        ],
    ),
    Doc(
        "sample-003",
        "train",
        "N-acetylcysteine prevents acetaminophen-induced liver injury in Sprague–Dawley rats",
        [
            "Overdose of acetaminophen (APAP) is the leading cause of acute liver failure in "
            "the United States.",
            "Pretreatment of rats with N-acetylcysteine (NAC; 150 mg/kg) 1 h before an oral "
            "APAP challenge (1 g/kg) lowered serum transaminase activity by 62%.",
        ],
        [
            E("Chemical", "N-acetylcysteine", ALL),
            E("Chemical", "acetaminophen", ALL),
            E("Disease", "acetaminophen-induced liver injury"),
            E("Species", "rats", ALL),
            E("Disease", "Overdose", key="overdose"),
            E("Chemical", "APAP", 1, key="apap"),
            E("Chemical", "APAP", ALL),
            E("Disease", "acute liver failure"),
            E("Chemical", "NAC"),
        ],
        [
            N("apap", "MESH:D000082"),
            N("overdose", "MESH:D062787"),
            Note(
                "overdose",
                "Drug overdose annotated as Disease (CDR convention); the chemical is annotated "
                "separately.",
            ),
        ],
    ),
    Doc(
        "sample-004",
        "train",
        "IL-6-induced STAT3 activation drives muscle wasting in cancer cachexia",
        [
            "Cachexia affects up to 80% of patients with advanced pancreatic cancer and is "
            "strongly associated with elevated circulating interleukin-6 (IL-6).",
            "Mice lacking Stat3 in skeletal muscle were protected from weight loss, and the JAK1 "
            "and JAK2 inhibitor ruxolitinib reduced muscle wasting by 35%.",
        ],
        [
            E("Gene", "IL-6", ALL),  # the first one is inside "IL-6-induced"
            E("Gene", "STAT3"),
            E("Disease", "muscle wasting", ALL),
            E("Disease", "cancer cachexia"),
            E("Disease", "Cachexia"),
            E("Species", "patients"),
            E("Disease", "pancreatic cancer"),
            E("Gene", "interleukin-6"),
            E("Species", "Mice"),
            E("Gene", "Stat3"),
            E("Disease", "weight loss"),
            E("Gene", "JAK1"),
            E("Gene", "JAK2"),
            E("Chemical", "ruxolitinib"),
        ],
    ),
    Doc(
        "sample-005",
        "train",
        "Zebrafish larvae as a model of Mycobacterium marinum granuloma formation",
        [
            "Mycobacterium marinum, a close relative of Mycobacterium tuberculosis, causes a "
            "disease resembling tuberculosis in zebrafish and chronic skin lesions in humans.",
            "We injected 200 colony-forming units of M. marinum into the caudal vein of "
            "2-day-old Danio rerio larvae and followed granuloma formation by live imaging.",
            "Morpholino knockdown of tnfa or myd88 increased bacterial burden 4-fold, whereas "
            "rifampicin (10 µg/mL) cleared the bacteria within 5 days.",
        ],
        [
            E("Species", "Zebrafish"),
            E("Species", "zebrafish"),
            E("Species", "Mycobacterium marinum", ALL),
            E("Disease", "granuloma", ALL),
            E("Species", "Mycobacterium tuberculosis"),
            E("Disease", "tuberculosis", 2),  # the 1st is part of the species name
            E("Disease", "skin lesions"),
            E("Species", "humans"),
            E("Species", "M. marinum"),
            E("Species", "Danio rerio"),
            E("Gene", "tnfa"),
            E("Gene", "myd88"),
            E("Chemical", "rifampicin"),
        ],
    ),
    Doc(
        "sample-006",
        "train",
        "Etoposide sensitivity and SLFN11 expression in small cell and non-small cell lung cancer",
        [
            "Schlafen family member 11 (SLFN11) sensitizes cancer cells to DNA-damaging agents "
            "such as etoposide and cisplatin.",
            "Among 146 patients with small cell lung cancer (SCLC), high SLFN11 expression was "
            "associated with longer progression-free survival after etoposide–cisplatin "
            "chemotherapy (HR 0.54; 95% CI 0.36–0.81).",
        ],
        [
            E("Chemical", "Etoposide"),
            E("Chemical", "etoposide", ALL),
            E("Chemical", "cisplatin", ALL),
            E("Gene", "SLFN11", ALL),
            E("Gene", "Schlafen family member 11"),
            D("Disease", ["small cell", "lung cancer"], 1),  # "small cell (...) lung cancer"
            E("Disease", "non-small cell lung cancer"),
            E("Disease", "small cell lung cancer", ALL),
            E("Disease", "cancer", ALL),  # "cancer cells"
            E("Disease", "SCLC"),
            E("Species", "patients"),
        ],
    ),
    Doc(
        "sample-007",
        "train",
        "LRRK2 G2019S kinase activity and MPTP-induced neurodegeneration in transgenic mice",
        [
            "The G2019S substitution in leucine-rich repeat kinase 2 (LRRK2) is the most common "
            "genetic cause of Parkinson's disease (PD).",
            "We crossed BAC transgenic G2019S mice with Snca-knockout mice and exposed the "
            "offspring to MPTP (4 × 20 mg/kg, i.p.).",
            "G2019S mice lost 41% more nigral dopaminergic neurons than controls, linking "
            "LRRK2-associated Parkinson's disease to α-synuclein-dependent neurotoxicity.",
        ],
        [
            E("Gene", "LRRK2", ALL),
            E("Chemical", "MPTP", ALL),
            E("Disease", "MPTP-induced neurodegeneration"),
            E("Species", "mice", ALL),
            E("Gene", "leucine-rich repeat kinase 2"),
            E("Disease", "LRRK2-associated Parkinson's disease"),
            E("Disease", "Parkinson's disease", ALL),
            E("Disease", "PD"),
            E("Gene", "Snca"),
            E("Gene", "α-synuclein"),
            E("Disease", "neurotoxicity"),
        ],
    ),
    Doc(
        "sample-008",
        "train",
        "Colistin resistance mediated by mcr-1 in Escherichia coli isolates from pigs and humans",
        [
            "The plasmid-borne gene mcr-1 encodes an enzyme that adds phosphoethanolamine to "
            "lipid A and thereby confers resistance to colistin.",
            "We screened 1,204 E. coli isolates from pigs, chickens and hospitalized patients "
            "with urinary tract infections in Guangdong, China, between 2015 and 2018.",
            "mcr-1 was detected in 21% of isolates from pigs but in only 1.4% of those from "
            "patients.",
        ],
        [
            E("Chemical", "Colistin"),
            E("Chemical", "colistin"),
            E("Gene", "mcr-1", ALL),
            E("Species", "Escherichia coli"),
            E("Species", "E. coli"),
            E("Species", "pigs", ALL),
            E("Species", "humans"),
            E("Species", "chickens"),
            E("Species", "patients", ALL),
            E("Chemical", "phosphoethanolamine"),
            E("Chemical", "lipid A"),
            E("Disease", "urinary tract infections"),
        ],
    ),
    Doc(
        "sample-009",
        "train",
        "SLCO1B1 polymorphism and simvastatin-induced myopathy in a Finnish cohort",
        [
            "Myopathy is the most frequent adverse effect that leads patients to discontinue "
            "statins.",
            "Confirming the genome-wide findings of Link et al., we found that the c.521T>C "
            "variant of SLCO1B1, which encodes the hepatic uptake transporter OATP1B1, increased "
            "the risk of myopathy (OR 4.5 per allele) in 2,318 patients treated with simvastatin "
            "40–80 mg/day.",
            "Genotype-guided prescribing, e.g. switching carriers to pravastatin, could prevent "
            "rhabdomyolysis.",
        ],
        [
            E("Gene", "SLCO1B1", ALL),
            E("Disease", "simvastatin-induced myopathy"),
            E("Chemical", "simvastatin", ALL),
            E("Disease", "Myopathy"),
            E("Disease", "myopathy", ALL),
            E("Species", "patients", ALL),
            E("Chemical", "statins"),
            E("Gene", "OATP1B1"),
            E("Chemical", "pravastatin"),
            E("Disease", "rhabdomyolysis"),
        ],
    ),
    Doc(
        "sample-010",
        "train",
        "Baloxavir marboxil reduces transmission of influenza A virus between ferrets",
        [
            "Influenza causes an estimated 290,000–650,000 respiratory deaths worldwide each year.",
            "Donor ferrets (Mustela putorius furo) were inoculated with 10^6 TCID50 of influenza "
            "A virus and treated with baloxavir marboxil, oseltamivir or placebo 24 h later.",
            "Baloxavir blocked transmission to naive contacts in 4 of 6 pairs, whereas "
            "oseltamivir had no effect.",
        ],
        [
            E("Chemical", "Baloxavir marboxil"),
            E("Chemical", "baloxavir marboxil"),
            E("Chemical", "Baloxavir", ALL),
            E("Chemical", "oseltamivir", ALL),
            E("Species", "influenza A virus", ALL),
            E("Species", "ferrets", ALL),
            E("Species", "Mustela putorius furo"),
            E("Disease", "Influenza"),
        ],
    ),
    Doc(
        "sample-011",
        "train",
        "APOE ε4 and amyloid-β accumulation in cognitively normal women and men",
        [
            "Carriers of the apolipoprotein E (APOE) ε4 allele have a threefold higher risk of "
            "Alzheimer's disease (AD).",
            "Using Pittsburgh compound B (PiB) positron emission tomography, we measured "
            "cortical amyloid-β (Aβ) deposition in 508 cognitively normal women and men aged "
            "60–85 years.",
            "ε4 carriers showed a higher Aβ burden than non-carriers (p < 0.001).",
        ],
        [
            E("Gene", "APOE", ALL),
            E("Gene", "amyloid-β", ALL),
            E("Gene", "Aβ", ALL),
            E("Species", "women", ALL),
            E("Species", "men", ALL),
            E("Gene", "apolipoprotein E"),
            E("Disease", "Alzheimer's disease"),
            E("Disease", "AD"),
            E("Chemical", "Pittsburgh compound B"),
            E("Chemical", "PiB"),
        ],
    ),
    Doc(
        "sample-012",
        "train",
        "Kupffer cell-derived TNF-α mediates ethanol-induced steatohepatitis in mice",
        [
            "Chronic-plus-binge ethanol feeding of C57BL/6J mice induces hepatic steatosis and a "
            "5-fold rise in serum alanine aminotransferase (ALT).",
            "Depletion of Kupffer cells prevented these changes, suggesting that targeting TNF-α "
            "signalling may benefit patients with alcoholic hepatitis.",
        ],
        [
            E("Gene", "TNF-α", ALL),
            E("Chemical", "ethanol", ALL),
            E("Disease", "ethanol-induced steatohepatitis"),
            E("Species", "mice", ALL),
            E("Disease", "hepatic steatosis"),
            E("Gene", "alanine aminotransferase"),
            E("Gene", "ALT"),
            E("Species", "patients"),
            E("Disease", "alcoholic hepatitis"),
        ],
    ),
    Doc(
        "sample-013",
        "train",
        "Artesunate clears Plasmodium berghei parasitaemia and prevents experimental cerebral "
        "malaria in mice",
        [
            "Cerebral malaria is the most lethal complication of Plasmodium falciparum malaria "
            "and kills more than 400,000 children each year.",
            "C57BL/6 mice infected with P. berghei ANKA were treated with artesunate (32 mg/kg) "
            "from day 4, alone or combined with the CXCR3 antagonist AMG487.",
            "The combination increased survival from 15% to 85%.",
        ],
        [
            E("Chemical", "Artesunate"),
            E("Chemical", "artesunate"),
            E("Species", "Plasmodium berghei"),
            E("Species", "P. berghei"),
            E("Disease", "parasitaemia"),
            E("Disease", "experimental cerebral malaria"),
            E("Disease", "Cerebral malaria"),
            E("Species", "mice", ALL),
            E("Disease", "Plasmodium falciparum malaria"),
            E("Species", "Plasmodium falciparum"),
            E("Species", "children"),
            E("Gene", "CXCR3"),
            E("Chemical", "AMG487"),
        ],
    ),
    Doc(
        "sample-014",
        "train",
        "VKORC1 and CYP2C9 genotypes predict warfarin dose requirements and bleeding risk",
        [
            "Warfarin has a narrow therapeutic index, and major bleeding occurs in 2–5% of "
            "treated patients per year.",
            "We genotyped VKORC1 −1639G>A and the CYP2C9*2 and CYP2C9*3 alleles in 1,015 "
            "patients starting anticoagulation for atrial fibrillation or venous "
            "thromboembolism.",
            "Carriers of the VKORC1 A allele required 28% lower warfarin doses.",
        ],
        [
            E("Gene", "VKORC1", ALL),
            E("Gene", "CYP2C9", ALL),  # also the gene part of the star alleles "CYP2C9*2"
            E("Chemical", "warfarin", ALL),
            E("Chemical", "Warfarin"),
            E("Disease", "bleeding", ALL),
            E("Species", "patients", ALL),
            E("Disease", "atrial fibrillation"),
            E("Disease", "venous thromboembolism"),
        ],
    ),
    Doc(
        "sample-015",
        "train",
        "Tenofovir versus entecavir and the risk of hepatocellular carcinoma in chronic "
        "hepatitis B",
        [
            "Hepatitis B virus (HBV) infects about 296 million people worldwide and is the "
            "leading cause of hepatocellular carcinoma (HCC) in Asia.",
            "In a nationwide cohort of 24,156 Korean patients, tenofovir disoproxil fumarate was "
            "associated with a lower incidence of HCC than entecavir (adjusted HR 0.68; 95% CI "
            "0.55–0.84).",
        ],
        [
            E("Chemical", "Tenofovir"),
            E("Chemical", "tenofovir disoproxil fumarate"),
            E("Chemical", "entecavir", ALL),
            E("Disease", "hepatocellular carcinoma", ALL),
            E("Disease", "HCC", ALL),
            E("Disease", "chronic hepatitis B"),
            E("Species", "Hepatitis B virus"),
            E("Species", "HBV"),
            E("Species", "people"),
            E("Species", "patients"),
        ],
    ),
    Doc(
        "sample-016",
        "train",
        "Molnupiravir reduces SARS-CoV-2 replication and pneumonia in Syrian hamsters",
        [
            "Syrian hamsters (Mesocricetus auratus) develop a self-limiting pneumonia after "
            "intranasal inoculation with SARS-CoV-2 that resembles moderate COVID-19 in humans.",
            "Molnupiravir (250 mg/kg twice daily) started 12 h after inoculation reduced lung "
            "viral titres by 3.4 log10 PFU/g.",
            "The active metabolite β-D-N4-hydroxycytidine (NHC) reached 12 µM in lung tissue.",
        ],
        [
            E("Chemical", "Molnupiravir", ALL),
            E("Species", "SARS-CoV-2", ALL),
            E("Disease", "pneumonia", ALL),
            E("Species", "Syrian hamsters", ALL),
            E("Species", "Mesocricetus auratus"),
            E("Disease", "COVID-19"),
            E("Species", "humans"),
            E("Chemical", "β-D-N4-hydroxycytidine"),
            E("Chemical", "NHC"),
        ],
    ),
    # ------------------------------------------------------------------ dev
    Doc(
        "sample-017",
        "dev",
        "Metformin and SGLT2 inhibitors in type 1 and type 2 diabetes",
        [
            "Sodium–glucose cotransporter 2 (SGLT2) inhibitors such as empagliflozin lower "
            "blood glucose independently of insulin.",
            "In a 26-week trial of 412 patients with type 2 diabetes inadequately controlled on "
            "metformin, adding empagliflozin 25 mg lowered fasting glucose by 1.9 mmol/L and "
            "body weight by 2.6 kg.",
            "In type 1 diabetes, the same drug increased the rate of diabetic ketoacidosis (DKA) "
            "to 4.3%, mostly in patients with low endogenous insulin secretion.",
        ],
        [
            E("Chemical", "Metformin"),
            E("Chemical", "metformin"),
            E("Gene", "SGLT2", ALL),
            D("Disease", ["type 1", "diabetes"], 1, key="t1d_disc"),
            E("Disease", "type 2 diabetes", ALL),
            E("Disease", "type 1 diabetes"),
            E("Gene", "Sodium–glucose cotransporter 2"),
            E("Chemical", "glucose", 2),  # the 1st is part of the gene name
            E("Chemical", "glucose", 3),
            E("Chemical", "empagliflozin", ALL),
            E("Gene", "insulin", ALL),
            E("Species", "patients", ALL),
            E("Disease", "diabetic ketoacidosis"),
            E("Disease", "DKA"),
        ],
        [
            N("t1d_disc", "MESH:D003922"),
        ],
    ),
    Doc(
        "sample-018",
        "dev",
        "Isoniazid preventive therapy and tuberculosis incidence in people living with HIV",
        [
            "Tuberculosis (TB) remains the leading cause of death among people living with human "
            "immunodeficiency virus (HIV).",
            "We randomized 1,325 patients receiving efavirenz-based antiretroviral therapy in "
            "Botswana to 36 months of isoniazid or placebo.",
            "Isoniazid reduced TB incidence by 43%, but grade 3–4 hepatotoxicity occurred in "
            "2.1% of patients, particularly in slow acetylators carrying two NAT2*6A alleles.",
        ],
        [
            E("Chemical", "Isoniazid", ALL),
            E("Chemical", "isoniazid"),
            E("Disease", "tuberculosis"),
            E("Disease", "Tuberculosis"),
            E("Disease", "TB", ALL),
            E("Species", "people", ALL),
            E("Species", "HIV", ALL),
            E("Species", "human immunodeficiency virus"),
            E("Species", "patients", ALL),
            E("Chemical", "efavirenz"),
            E("Disease", "hepatotoxicity"),
            E("Gene", "NAT2"),
        ],
    ),
    Doc(
        "sample-019",
        "dev",
        "Rapamycin suppresses mutant huntingtin toxicity in a Drosophila model of Huntington's "
        "disease",
        [
            "Huntington's disease (HD) is caused by an expanded CAG repeat in the HTT gene.",
            "Expression of human HTT exon 1 carrying 120 CAG repeats in the photoreceptors of "
            "Drosophila melanogaster caused progressive retinal degeneration within 10 days.",
            "Dietary rapamycin (1 µM), an inhibitor of TOR, increased the autophagic clearance of "
            "huntingtin aggregates and reduced neurodegeneration by 52%, an effect that required "
            "Atg1.",
        ],
        [
            E("Chemical", "Rapamycin"),
            E("Chemical", "rapamycin"),
            E("Gene", "huntingtin", ALL),
            E("Species", "Drosophila melanogaster"),
            E("Species", "Drosophila", ALL),
            E("Disease", "Huntington's disease", ALL),
            E("Disease", "HD"),
            E("Gene", "HTT", ALL),
            E("Species", "human"),
            E("Disease", "retinal degeneration"),
            E("Gene", "TOR"),
            E("Disease", "neurodegeneration"),
            E("Gene", "Atg1"),
        ],
    ),
    Doc(
        "sample-020",
        "dev",
        "Dexamethasone attenuates LPS-induced acute lung injury through inhibition of NF-κB in "
        "mice",
        [
            "Intratracheal lipopolysaccharide (LPS; 5 mg/kg) caused neutrophilic inflammation, "
            "pulmonary oedema and a 6-fold rise in bronchoalveolar IL-1β within 24 h, as "
            "described by Matute-Bello et al. (2011).",
            "Pretreatment with dexamethasone (1 mg/kg) reduced myeloperoxidase (MPO) activity and "
            "the nuclear translocation of the NF-κB subunit p65.",
        ],
        [
            E("Chemical", "Dexamethasone"),
            E("Chemical", "dexamethasone"),
            E("Chemical", "LPS", ALL),
            E("Disease", "LPS-induced acute lung injury"),
            E("Gene", "NF-κB", ALL),
            E("Species", "mice"),
            E("Chemical", "lipopolysaccharide"),
            E("Disease", "neutrophilic inflammation"),
            E("Disease", "pulmonary oedema"),
            E("Gene", "IL-1β"),
            E("Gene", "myeloperoxidase"),
            E("Gene", "MPO"),
            E("Gene", "p65"),
        ],
    ),
    # ------------------------------------------------------------------ test
    Doc(
        "sample-021",
        "test",
        "Dexrazoxane prevents doxorubicin-induced cardiotoxicity by depleting topoisomerase IIβ",
        [
            "Anthracyclines such as doxorubicin cause dose-dependent heart failure in up to 5% "
            "of patients treated for breast cancer or lymphoma.",
            "In doxorubicin-treated mice, cardiomyocyte-specific deletion of Top2b prevented DNA "
            "double-strand breaks and left ventricular dilatation.",
            "Co-administration of dexrazoxane (60 mg/kg) depleted topoisomerase IIβ (TOP2B) "
            "protein in the heart and preserved ejection fraction in 18 of 20 mice.",
        ],
        [
            E("Chemical", "Dexrazoxane"),
            E("Chemical", "dexrazoxane"),
            E("Chemical", "doxorubicin", 1, key="dox"),
            E("Chemical", "doxorubicin", ALL),  # the 3rd is inside "doxorubicin-treated"
            E("Disease", "doxorubicin-induced cardiotoxicity", key="dic"),
            E("Gene", "topoisomerase IIβ", ALL),
            E("Chemical", "Anthracyclines"),
            E("Disease", "heart failure"),
            E("Species", "patients"),
            E("Disease", "breast cancer"),
            E("Disease", "lymphoma"),
            E("Species", "mice", ALL),
            E("Gene", "Top2b"),
            E("Gene", "TOP2B"),
            E("Disease", "left ventricular dilatation"),
        ],
        [
            N("dox", "MESH:D004317"),
            N("dic", "MESH:D066126"),
            R("Causes", "dox", "dic"),
        ],
    ),
    Doc(
        "sample-022",
        "test",
        "Hepatic and renal toxicity of high-dose methotrexate in children with acute "
        "lymphoblastic leukaemia",
        [
            "High-dose methotrexate (HD-MTX; 5 g/m²) is a cornerstone of therapy for paediatric "
            "acute lymphoblastic leukaemia (ALL), but delayed drug clearance can cause acute "
            "kidney injury.",
            "Among 634 children treated on the NOPHO ALL2008 protocol, 9.1% developed grade 3–4 "
            "hepatic and renal toxicity, and carriers of the SLCO1B1 rs4149056 C allele had "
            "1.6-fold higher plasma MTX concentrations at 48 h.",
            "Leucovorin rescue was intensified in all 12 patients whose serum methotrexate "
            "exceeded 10 µmol/L at 42 h.",
        ],
        [
            D("Disease", ["Hepatic", "toxicity"], 1, key="hep_tox"),
            D("Disease", ["hepatic", "toxicity"], 1),
            E("Disease", "renal toxicity", ALL),
            E("Chemical", "methotrexate", 1, key="mtx"),
            E("Chemical", "methotrexate", ALL),
            E("Chemical", "MTX", ALL),  # the 1st is inside "HD-MTX"
            E("Species", "children", ALL),
            E("Disease", "acute lymphoblastic leukaemia", ALL),
            E("Disease", "ALL"),  # "ALL2008" is not a token-bounded occurrence
            E("Disease", "acute kidney injury"),
            E("Gene", "SLCO1B1"),
            E("Chemical", "Leucovorin"),
            E("Species", "patients"),
        ],
        [
            N("mtx", "MESH:D008727"),
            N("hep_tox", "MESH:D056486"),
        ],
    ),
    Doc(
        "sample-023",
        "test",
        "Osimertinib resistance in EGFR-mutant lung adenocarcinoma driven by MET amplification",
        [
            "Osimertinib is a third-generation EGFR tyrosine kinase inhibitor approved for "
            "patients with EGFR-mutant non-small cell lung cancer (NSCLC).",
            "Among 83 patients progressing on first-line osimertinib, analysis of circulating "
            "cell-free DNA revealed MET amplification in 15%, the EGFR C797S mutation in 7% and "
            "HER2 (ERBB2) amplification in 2%.",
        ],
        [
            E("Chemical", "Osimertinib", ALL),
            E("Chemical", "osimertinib"),
            E("Gene", "EGFR", ALL),
            E("Disease", "EGFR-mutant lung adenocarcinoma"),
            E("Disease", "EGFR-mutant non-small cell lung cancer"),
            E("Disease", "NSCLC"),
            E("Gene", "MET", ALL),
            E("Species", "patients", ALL),
            E("Gene", "HER2"),
            E("Gene", "ERBB2"),
        ],
    ),
    Doc(
        "sample-024",
        "test",
        "Pseudomonas aeruginosa kills Caenorhabditis elegans through pyocyanin-mediated "
        "oxidative stress",
        [
            "On slow-killing medium, P. aeruginosa strain PA14 kills 50% of wild-type C. elegans "
            "within 48 h, whereas phzM mutants that cannot synthesize pyocyanin are attenuated.",
            "P. aeruginosa is also the dominant pathogen in the airways of people with cystic "
            "fibrosis (CF), a disease caused by mutations in CFTR, and pyocyanin reaches up to "
            "100 µM in their sputum.",
        ],
        [
            E("Species", "Pseudomonas aeruginosa"),
            E("Species", "P. aeruginosa", ALL),
            E("Species", "Caenorhabditis elegans"),
            E("Species", "C. elegans"),
            E("Chemical", "pyocyanin", ALL),
            E("Gene", "phzM"),
            E("Species", "people"),
            E("Disease", "cystic fibrosis"),
            E("Disease", "CF"),
            E("Gene", "CFTR"),
        ],
    ),
]


# --------------------------------------------------------------------------- generation


def bounded_occurrences(text: str, s: str, start: int = 0) -> list[int]:
    """Start offsets of ``s`` in ``text`` whose neighbours are not letters or digits."""
    found = []
    i = text.find(s, start)
    while i != -1:
        before = text[i - 1] if i > 0 else " "
        after = text[i + len(s)] if i + len(s) < len(text) else " "
        if not before.isalnum() and not after.isalnum():
            found.append(i)
        i = text.find(s, i + 1)
    return found


def _inside(inner, outer) -> bool:
    """Whether fragment list ``inner`` lies within one fragment of ``outer`` (same label)."""
    return all(any(os <= s and e <= oe for os, oe in outer) for s, e in inner)


def resolve(doc: Doc) -> tuple[list[dict], dict[str, dict]]:
    """Turn the mention specs of ``doc`` into spans; returns (entities, key -> entity)."""
    text = doc.text
    entities: list[dict] = []
    keys: dict[str, dict] = {}

    def where(m):
        return f"{doc.name}: {m['label']} {m['frags']!r} (occ={m['occ']})"

    explicit = [m for m in doc.mentions if m["occ"] != ALL]
    bulk = [m for m in doc.mentions if m["occ"] == ALL]
    for m in explicit:
        first, *rest = m["frags"]
        occs = bounded_occurrences(text, first)
        if not isinstance(m["occ"], int) or not 1 <= m["occ"] <= len(occs):
            raise ValueError(f"{where(m)}: only {len(occs)} occurrence(s) found")
        frags = [(occs[m["occ"] - 1], occs[m["occ"] - 1] + len(first))]
        for frag in rest:
            nxt = bounded_occurrences(text, frag, frags[-1][1])
            if not nxt:
                raise ValueError(f"{where(m)}: fragment {frag!r} not found after {frags[-1]}")
            frags.append((nxt[0], nxt[0] + len(frag)))
        ent = {"label": m["label"], "frags": frags}
        if any(e["label"] == ent["label"] and e["frags"] == frags for e in entities):
            raise ValueError(f"{where(m)}: duplicate annotation")
        entities.append(ent)
        if m["key"]:
            keys[m["key"]] = ent
    for m in sorted(bulk, key=lambda m: -len(m["frags"][0])):
        if len(m["frags"]) != 1 or m["key"]:
            raise ValueError(f"{where(m)}: ALL needs a single fragment and no key")
        s = m["frags"][0]
        added = 0
        for i in bounded_occurrences(text, s):
            frags = [(i, i + len(s))]
            same_label = [e["frags"] for e in entities if e["label"] == m["label"]]
            if any(_inside(frags, other) for other in same_label):
                continue
            entities.append({"label": m["label"], "frags": frags})
            added += 1
        if not added:
            raise ValueError(f"{where(m)}: no (new) occurrence found")

    entities.sort(key=lambda e: (e["frags"][0][0], -e["frags"][-1][1], e["label"]))
    for n, ent in enumerate(entities, 1):
        ent["id"] = f"T{n}"
        ent["text"] = " ".join(text[s:e] for s, e in ent["frags"])
    return entities, keys


def ann_lines(doc: Doc) -> list[str]:
    entities, keys = resolve(doc)
    lines = []
    for ent in entities:
        offsets = ";".join(f"{s} {e}" for s, e in ent["frags"])
        lines.append(f"{ent['id']}\t{ent['label']} {offsets}\t{ent['text']}")
    counters = Counter()
    for extra in doc.extras:
        kind = extra[0]
        counters[kind] += 1
        n = counters[kind]
        if kind == "N":
            ent = keys[extra[1]]
            lines.append(f"N{n}\tReference {ent['id']} {extra[2]}\t{ent['text']}")
        elif kind == "R":
            a1, a2 = keys[extra[2]], keys[extra[3]]
            lines.append(f"R{n}\t{extra[1]} Arg1:{a1['id']} Arg2:{a2['id']}")
        elif kind == "#":
            lines.append(f"#{n}\tAnnotatorNotes {keys[extra[1]]['id']}\t{extra[2]}")
        else:
            raise ValueError(f"{doc.name}: unknown extra line {extra!r}")
    return lines


def generate(out_dir: Path = OUT_DIR) -> None:
    names = [d.name for d in DOCS]
    assert len(names) == len(set(names)), "duplicate document names"
    for split in SPLITS:
        split_dir = out_dir / split
        split_dir.mkdir(parents=True, exist_ok=True)
        wanted = {d.name for d in DOCS if d.split == split}
        for old in list(split_dir.glob("sample-*.txt")) + list(split_dir.glob("sample-*.ann")):
            if old.stem not in wanted:  # a document moved to another split or was removed
                old.unlink()
    for doc in DOCS:
        text = doc.text
        assert "\t" not in text and "\r" not in text and text.count("\n") == 2, doc.name
        base = out_dir / doc.split / doc.name
        base.with_suffix(".txt").write_text(text, encoding="utf-8", newline="\n")
        ann = "\n".join(ann_lines(doc)) + "\n"
        base.with_suffix(".ann").write_text(ann, encoding="utf-8", newline="\n")
    print(f"wrote {len(DOCS)} documents to {out_dir}")


# --------------------------------------------------------------------------- verification

# Tokens ending in "." that do not end a sentence.
ABBREVIATIONS = {"al.", "e.g.", "i.e.", "vs.", "cf.", "approx.", "ca.", "Fig.", "no.", "et."}

MIN_SENTENCES = 70
MIN_PER_TYPE = 40
MIN_NESTED = 5
MIN_DISCONTINUOUS = 3


def count_sentences(text: str) -> int:
    """Title line = 1 sentence; abstract split at [.!?] + space unless after an abbreviation
    or an initial such as the "E." of "E. coli"."""
    title, _, abstract = text.rstrip("\n").partition("\n")
    count = 1 if title.strip() else 0
    n = 1 if abstract.strip() else 0
    for m in re.finditer(r"[.!?](?=\s+\S)", abstract):
        token = abstract[: m.end()].split()[-1]
        if token in ABBREVIATIONS or re.fullmatch(r"[A-Z]\.", token):
            continue
        n += 1
    return count + n


def parse_ann(path: Path, text: str, errors: list[str]) -> dict:
    """Parse and validate one .ann file against its text."""
    ents: dict[str, dict] = {}
    others = Counter()
    refs: list[tuple[str, str]] = []
    raw = path.read_bytes()
    if b"\r" in raw:
        errors.append(f"{path}: CR characters (line endings must be LF)")
    content = raw.decode("utf-8")
    if not content.endswith("\n") or content.endswith("\n\n"):
        errors.append(f"{path}: must end with exactly one newline")
    seen_ids = set()
    for lineno, line in enumerate(content.rstrip("\n").split("\n"), 1):
        where = f"{path.name}:{lineno}"
        if not line.strip():
            errors.append(f"{where}: empty line")
            continue
        ident = line.split("\t", 1)[0]
        if ident in seen_ids:
            errors.append(f"{where}: duplicate id {ident}")
        seen_ids.add(ident)
        if ident.startswith("T"):
            parts = line.split("\t")
            if len(parts) != 3:
                errors.append(f"{where}: T line needs 3 tab-separated fields")
                continue
            label, _, offsets = parts[1].partition(" ")
            if label not in LABELS:
                errors.append(f"{where}: unknown label {label!r}")
            try:
                frags = [tuple(int(x) for x in f.split(" ")) for f in offsets.split(";")]
                assert all(len(f) == 2 for f in frags)
            except (ValueError, AssertionError):
                errors.append(f"{where}: bad offsets {offsets!r}")
                continue
            prev_end = -1
            for s, e in frags:
                if not (0 <= s < e <= len(text)):
                    errors.append(f"{where}: fragment {s}-{e} outside text (len {len(text)})")
                if s <= prev_end:
                    errors.append(f"{where}: fragments not ordered / overlapping")
                if "\n" in text[s:e] or text[s:e] != text[s:e].strip():
                    errors.append(f"{where}: fragment {s}-{e} has newline or edge whitespace")
                prev_end = e
            expected = " ".join(text[s:e] for s, e in frags)
            if parts[2] != expected:
                errors.append(f"{where}: text field {parts[2]!r} != document text {expected!r}")
            ents[ident] = {"id": ident, "label": label, "frags": frags, "text": parts[2]}
        elif ident.startswith("N"):
            m = re.fullmatch(r"N\d+\tReference (T\d+) ([A-Za-z]+:\S+)\t(.*)", line)
            if not m:
                errors.append(f"{where}: malformed N line")
                continue
            refs.append((where, m.group(1)))
            others["N"] += 1
        elif ident.startswith("R"):
            m = re.fullmatch(r"R\d+\t\w+ Arg1:(T\d+) Arg2:(T\d+)", line)
            if not m:
                errors.append(f"{where}: malformed R line")
                continue
            refs += [(where, m.group(1)), (where, m.group(2))]
            others["R"] += 1
        elif ident.startswith("#"):
            m = re.fullmatch(r"#\d+\tAnnotatorNotes (T\d+)\t.+", line)
            if not m:
                errors.append(f"{where}: malformed AnnotatorNotes line")
                continue
            refs.append((where, m.group(1)))
            others["#"] += 1
        else:
            errors.append(f"{where}: unexpected line type {ident!r}")
    for where, ref in refs:
        if ref not in ents:
            errors.append(f"{where}: reference to missing {ref}")
    # N lines must repeat the text of the mention they normalise
    for line in content.split("\n"):
        m = re.fullmatch(r"N\d+\tReference (T\d+) \S+\t(.*)", line)
        if m and m.group(1) in ents and ents[m.group(1)]["text"] != m.group(2):
            errors.append(f"{path.name}: N line text {m.group(2)!r} != {m.group(1)} text")
    return {"ents": list(ents.values()), "others": others}


def _overlap(a, b) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in a["frags"] for s2, e2 in b["frags"])


def _is_abbreviation(s: str) -> bool:
    # Upper-case short forms (HD, ALL, IL-6) are document-local, so they are checked per document.
    return not any(c.islower() for c in s)


def check(out_dir: Path = OUT_DIR) -> bool:
    errors: list[str] = []
    docs = []
    for split in SPLITS:
        split_dir = out_dir / split
        txts = sorted(split_dir.glob("*.txt"))
        anns = sorted(split_dir.glob("*.ann"))
        if {p.stem for p in txts} != {p.stem for p in anns}:
            errors.append(f"{split_dir}: .txt and .ann files do not pair up")
        for txt_path in txts:
            raw = txt_path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                errors.append(f"{txt_path}: not UTF-8 ({exc})")
                continue
            if b"\r" in raw:
                errors.append(f"{txt_path}: CR characters (line endings must be LF)")
            if not text.endswith("\n") or text.endswith("\n\n"):
                errors.append(f"{txt_path}: must end with exactly one newline")
            if text.count("\n") != 2:
                errors.append(f"{txt_path}: expected 'title\\nabstract\\n'")
            if unicodedata.normalize("NFC", text) != text:
                errors.append(f"{txt_path}: text is not NFC-normalised")
            if not txt_path.with_suffix(".ann").exists():
                continue  # reported above
            ann = parse_ann(txt_path.with_suffix(".ann"), text, errors)
            docs.append({"name": txt_path.stem, "split": split, "text": text, **ann})

    # Per-document statistics ------------------------------------------------------------
    stats = {s: Counter() for s in SPLITS}
    by_type = {s: Counter() for s in SPLITS}
    for d in docs:
        st, ents, text = stats[d["split"]], d["ents"], d["text"]
        st["documents"] += 1
        st["sentences"] += count_sentences(text)
        st["mentions"] += len(ents)
        for kind, n in d["others"].items():
            st[f"{kind} lines"] += n
        for e in ents:
            by_type[d["split"]][e["label"]] += 1
            if len(e["frags"]) > 1:
                st["discontinuous"] += 1
            s, end = e["frags"][0][0], e["frags"][-1][1]
            if (s >= 2 and text[s - 1] == "-" and text[s - 2].isalnum()) or (
                end + 1 < len(text) and text[end] == "-" and text[end + 1].isalnum()
            ):
                st["in hyphenated token"] += 1
        for i, a in enumerate(ents):
            for b in ents[i + 1 :]:
                if _overlap(a, b):
                    st["nested/overlapping pairs"] += 1
                if a["label"] == b["label"] and a["frags"] == b["frags"]:
                    errors.append(f"{d['name']}: duplicate annotation {a['id']}/{b['id']}")
        if len({e["label"] for e in ents}) < 3:
            errors.append(f"{d['name']}: fewer than 3 entity types")

    # Consistency lint: every token-bounded occurrence of an annotated string must itself be
    # annotated with the same label, lie inside a longer mention of that label, or lie inside
    # a longer mention of another label (a name part, e.g. "tuberculosis" in the species
    # "Mycobacterium tuberculosis").
    lexicon = defaultdict(set)
    for d in docs:
        for e in d["ents"]:
            if len(e["frags"]) == 1:
                lexicon[(e["text"], e["label"])].add(d["name"])
    for d in docs:
        for (surface, label), annotated_in in lexicon.items():
            if _is_abbreviation(surface) and d["name"] not in annotated_in:
                continue
            for i in bounded_occurrences(d["text"], surface):
                span = {"frags": [(i, i + len(surface))]}
                ok = False
                for e in d["ents"]:
                    contains = _inside(span["frags"], e["frags"])
                    if contains and (e["label"] == label or len(e["text"]) > len(surface)):
                        ok = True
                        break
                if not ok:
                    errors.append(
                        f"{d['name']}: {surface!r} at {i} is not annotated as {label} "
                        f"(annotated as {label} in {sorted(annotated_in)[0]})"
                    )

    # Generator cross-check: sentence counter agrees with the source data -------------------
    expected = {doc.name: 1 + len(doc.sentences) for doc in DOCS}
    for d in docs:
        if d["name"] in expected and count_sentences(d["text"]) != expected[d["name"]]:
            errors.append(
                f"{d['name']}: sentence counter found {count_sentences(d['text'])}, "
                f"source has {expected[d['name']]}"
            )
    if {d["name"] for d in docs} != set(expected):
        errors.append("documents on disk differ from the documents in DOCS (run the generator)")

    # Required totals ----------------------------------------------------------------------
    total = sum(stats.values(), Counter())
    total_types = sum(by_type.values(), Counter())
    if total["sentences"] < MIN_SENTENCES:
        errors.append(f"only {total['sentences']} sentences (< {MIN_SENTENCES})")
    for label in LABELS:
        if total_types[label] < MIN_PER_TYPE:
            errors.append(f"only {total_types[label]} {label} mentions (< {MIN_PER_TYPE})")
        for split in SPLITS:
            if by_type[split][label] == 0:
                errors.append(f"split {split} has no {label} mention")
    if total["nested/overlapping pairs"] < MIN_NESTED:
        errors.append(f"only {total['nested/overlapping pairs']} nested pairs (< {MIN_NESTED})")
    if total["discontinuous"] < MIN_DISCONTINUOUS:
        errors.append(f"only {total['discontinuous']} discontinuous (< {MIN_DISCONTINUOUS})")
    for split in ("train", "test"):
        for what in ("nested/overlapping pairs", "discontinuous", "in hyphenated token"):
            if stats[split][what] == 0:
                errors.append(f"split {split} has no {what} example")
    for kind in ("N lines", "R lines", "# lines"):
        if total[kind] == 0:
            errors.append(f"no {kind} in the corpus")

    # Report -------------------------------------------------------------------------------
    rows = [
        "documents",
        "sentences",
        "mentions",
        *LABELS,
        "discontinuous",
        "nested/overlapping pairs",
        "in hyphenated token",
        "N lines",
        "R lines",
        "# lines",
    ]
    print(f"{'':26}" + "".join(f"{s:>8}" for s in (*SPLITS, "total")))
    for row in rows:
        src = by_type if row in LABELS else stats
        vals = [src[s][row] for s in SPLITS]
        print(f"{row:26}" + "".join(f"{v:>8}" for v in (*vals, sum(vals))))
    if errors:
        print(f"\n{len(errors)} problem(s):", file=sys.stderr)
        for err in errors:
            print("  " + err, file=sys.stderr)
        return False
    print("\nall checks passed")
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify the files on disk")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    args = parser.parse_args(argv)
    if args.check:
        return 0 if check(args.out) else 1
    generate(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
