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
}
