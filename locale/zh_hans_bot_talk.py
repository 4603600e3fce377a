"""Chinese for the bot's small talk and the "none of these" hand-over (conversations.bot, issue
17, round 3); the lead merges these."""

ZH = {
    # Small talk (knowledge.dialogue.small_talk), answered in the visitor's language
    "Hello! What can I help you with?": "您好！请问有什么可以帮您？",
    "Yes, I am here. What can I help you with?": "在的，请问有什么可以帮您？",
    "You are welcome. Is there anything else I can help you with?": "不客气，还有其他可以帮您的吗？",
    "Goodbye, and thank you for contacting us!": "再见，感谢您的咨询！",
    # Hand-over reason: the visitor said none of the offered choices fitted
    "none of the bot's suggestions fitted": "机器人给出的选项都不符合",
    # Learning from agents: the knowledge-gap view's suggestions
    "suggested FAQ entry": "建议的 FAQ 条目",
    "Learnt from agents": "从客服回复中学到的",
    "After the bot handed these conversations over, an agent answered with an FAQ entry's answer. Add the visitor's wording to that entry's similar questions so the bot answers it next time.":
        "机器人转人工后，客服用某个 FAQ 条目的答案回复了访客。把访客的问法加为该条目的相似问题，机器人下次就能直接回答。",
    "Visitor's question": "访客的问题",
    "Answered with FAQ entry": "客服回复所用的 FAQ 条目",
    "Add as similar question": "加为相似问题",
    "Unanswered questions": "未回答的问题",
    "Added as similar questions: %(n)d.": "已加为相似问题：%(n)d 条。",
}
