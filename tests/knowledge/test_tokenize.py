from knowledge.nlp.tokenize import Segmenter, char_features, normalize, word_features


def test_merchant_dictionary_keeps_product_name_whole():
    plain = Segmenter()
    assert "小米手环" not in plain.tokens("我的小米手环坏了")
    seg = Segmenter(dictionary=[("小米手环", None)])
    assert "小米手环" in seg.tokens("我的小米手环坏了")


def test_dictionary_is_per_engine():
    Segmenter(dictionary=[("云朵抱枕", None)])
    # Another merchant's tokenizer, built afterwards, does not see that word.
    assert "云朵抱枕" not in Segmenter().tokens("云朵抱枕")


def test_synonyms_rewritten_to_canonical_word():
    seg = Segmenter(synonyms={"退货": ["退换", "退掉"], "refund": ["money back", "reimburse"]})
    assert seg.tokens("这件衣服能退掉吗") == seg.tokens("这件衣服能退货吗")
    assert "退货" in seg.tokens("我要退换")
    assert seg.tokens("Can I get my MONEY BACK?") == ["can", "i", "get", "my", "refund"]
    assert "refund" in seg.tokens("please reimburse me")
    # Whole words only: "reimbursement" is a different word.
    assert "refund" not in seg.tokens("reimbursement form")


def test_normalisation_drops_punctuation_and_folds_width_and_case():
    seg = Segmenter()
    assert seg.tokens("ＨＥＬＬＯ，　World！！") == ["hello", "world"]
    assert seg.tokens("？？？。。") == []


def test_traditional_chinese_is_read_as_simplified():
    seg = Segmenter()
    assert seg.tokens("怎麼申請退貨") == seg.tokens("怎么申请退货")
    # Phrase-aware: 乾杯 is 干杯, the names 乾隆 and 著名 keep their characters.
    assert normalize("乾杯，乾隆很著名") == "干杯,乾隆很著名"
    # 帳 and its simplified form 帐 are the 账 of 账户 / 到账, however the FAQ wrote it.
    assert normalize("帳戶") == normalize("帐户") == normalize("账户") == "账户"
    assert normalize("幾時能到帳") == "几时能到账"
    # Nothing else changes: Latin text is only folded, and Simplified text stays as it is.
    assert normalize("iPhone15 退货") == "iphone15 退货"


def test_features():
    assert word_features(["a", "b", "c"]) == ["a", "b", "c", "a b", "b c"]
    grams = char_features(["退货", "运费"])
    # Character n-grams run across jieba's word boundary (robust to a wrong cut).
    assert "货运" in grams and "退货运" in grams and "退" in grams
    assert " re" in char_features(["refund"])
