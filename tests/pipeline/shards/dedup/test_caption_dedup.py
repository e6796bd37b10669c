from openwit.pipeline.shards.dedup.captions import CaptionDedupConfig, near_caption_pairs, shingles


def test_near_caption_pairs_are_confirmed_by_exact_jaccard():
    captions = [
        "A red apple on a wooden kitchen table",
        "a red apple on a wooden kitchen table!",  # case and punctuation
        "A red apple on a wooden kitchen table, photographed from above",
        "blue car parked outside a bakery",
        "",
        "x",
    ]
    cfg = CaptionDedupConfig(enabled=True, threshold=0.8)
    pairs = near_caption_pairs(captions, cfg)
    assert pairs == [(0, 1)]
    for i, j in pairs:
        a, b = shingles(captions[i], cfg.shingle), shingles(captions[j], cfg.shingle)
        assert len(a & b) / len(a | b) >= 0.8
    looser = near_caption_pairs(captions, CaptionDedupConfig(enabled=True, threshold=0.4))
    assert (0, 2) in looser and (1, 2) in looser and not any(3 in p for p in looser)
