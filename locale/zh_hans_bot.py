"""Chinese for the knowledge-base bot's strings (knowledge.bot, knowledge.dialogue,
conversations.services.bot_name); the lead merges these."""

ZH = {
    # The bot's default name (Merchant.bot_name empty)
    "Assistant": "智能助手",
    # Replies to visitors
    "Sorry for the trouble.": "很抱歉给您带来不便。",
    "Did you mean: %(label)s?": "您是想问：%(label)s？",
    "Which of these do you mean? Pick one or reply with its number.":
        "您想问的是下面哪一个？请点击选项或回复序号。",
    "Sorry, I could not find an answer to that. Could you put it another way? "
    "To talk to a person, say “human”.":
        "抱歉，我暂时没有找到答案。您可以换个说法再问一次，或发送“转人工”联系人工客服。",
    "No agent is available right now. Please leave your question and how to reach you; "
    "we will reply as soon as we are back.":
        "现在没有客服在线。请留下您的问题和联系方式，客服上线后会尽快回复您。",
    "I am connecting you to an agent. Please wait a moment.": "正在为您转接人工客服，请稍候。",
    # The hand-over note for agents
    "The bot handed this conversation over: %(reason)s": "机器人已转人工：%(reason)s",
    "Detected intent: %(intent)s": "识别到的意图：%(intent)s",
    "Visitor sentiment: %(mood)s": "访客情绪：%(mood)s",
    "Conversation so far:": "对话记录：",
    "Visitor": "访客",
    "Bot": "机器人",
    "Agent": "客服",
    "System": "系统",
    "not read": "未识别",
    "positive": "正面",
    "neutral": "中性",
    "negative": "负面",
    "none": "无",
    "the bot has no trained knowledge base yet": "机器人还没有训练好的知识库",
    "the bot was switched off": "机器人已关闭",
    "the bot failed": "机器人出错",
}
