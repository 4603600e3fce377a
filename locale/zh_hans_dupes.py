"""Chinese for the duplicate-entries page (knowledge.admin.DuplicateFaqAdmin, its template and
the links to it); the lead merges these."""

ZH = {
    "duplicate entries": "重复的常见问题",
    "Duplicate entries": "重复的常见问题",
    "entries that answer each other's questions.": "互相能回答对方问题的条目。",
    "Each pair below: the bot, asked one entry's standard question, would answer it with the "
    "other entry. Entries that ask the same thing split the bot's confidence and make it answer "
    "fewer questions directly. Merge one into the other (its questions become similar questions "
    "of the entry you keep, and it is disabled), or mark the pair as not duplicates.":
        "下列每一对条目：用其中一个条目的标准问题提问时，机器人会用另一个条目来回答。"
        "问的是同一件事的条目会分散机器人的把握，使它直接回答的问题变少。"
        "请把其中一个合并到另一个（它的问题成为所保留条目的相似问题，它本身被停用），"
        "或标记为不重复。",
    "Entry": "条目",
    "Score": "相似度",
    "Keep left, merge right into it": "保留左侧，将右侧合并进来",
    "Keep right, merge left into it": "保留右侧，将左侧合并进来",
    "Not duplicates": "不重复",
    "No likely duplicates: no entry's question is answered by another entry (or the bot has "
    "not been trained yet).":
        "没有疑似重复：没有哪个条目的问题会被另一个条目回答（或机器人尚未训练）。",
    "Those entries are not yours to merge, or are gone.": "这些条目不属于您，或已不存在，无法合并。",
    "Merged into “%(question)s”; the bot retrains shortly.": "已合并到“%(question)s”，机器人稍后会重新训练。",
    "Marked as not duplicates.": "已标记为不重复。",
    "Unknown action.": "未知操作。",
}
