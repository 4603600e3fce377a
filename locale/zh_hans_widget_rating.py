"""Chinese for issue 14's satisfaction rating, system lines, emoji picker and reply sound
(widget/strings.py, merchants.models.Merchant.rating_scale, the workspace's rating chip); the
lead merges these."""

ZH = {
    # Merchant setting
    "Widget": "访客插件",
    "satisfaction rating": "满意度评价",
    "1 to 5 stars": "1 至 5 星",
    "Satisfied / neutral / dissatisfied": "满意 / 一般 / 不满意",
    "What the widget asks when a conversation is resolved. Satisfied, neutral and "
    "dissatisfied are stored as 5, 3 and 1.":
        "会话解决后访客插件请访客评价的方式。满意、一般、不满意分别记为 5、3、1 分。",
    # The rating card
    "How was your conversation?": "您对本次服务满意吗？",
    "%(n)s of 5 stars": "%(n)s 星（满分 5 星）",
    "Satisfied": "满意",
    "So-so": "一般",
    "Dissatisfied": "不满意",
    "Anything you would like to add? (optional)": "还有什么想告诉我们的吗？（选填）",
    "Send rating": "提交评价",
    "Not now": "暂不评价",
    "Please choose a rating first.": "请先选择评价。",
    "Thank you for your feedback!": "感谢您的评价！",
    "You have already rated this conversation.": "您已经评价过本次会话。",
    # Workspace
    "Rated %s": "评价 %s",
    "Rated %s of 5": "评价 %s 分（满分 5 分）",
    # Emoji picker and the reply sound
    "Insert emoji": "插入表情",
    "Emoji": "表情",
    "grinning face": "大笑",
    "smiling face": "微笑",
    "tears of joy": "笑哭",
    "winking face": "眨眼",
    "heart eyes": "花痴",
    "thinking face": "思考",
    "nervous smile": "尴尬",
    "crying face": "流泪",
    "surprised face": "惊讶",
    "angry face": "生气",
    "thank you": "拜托",
    "thumbs up": "赞",
    "thumbs down": "踩",
    "OK hand": "好的",
    "waving hand": "挥手",
    "clapping hands": "鼓掌",
    "strong": "加油",
    "celebration": "庆祝",
    "red heart": "爱心",
    "rose": "玫瑰",
    "check mark": "对勾",
    "question mark": "问号",
    "package": "包裹",
    "delivery truck": "快递",
    "Sound for new replies: on": "新回复提示音：开",
    "Sound for new replies: off": "新回复提示音：关",
    # System lines in the visitor's thread
    "The assistant passed your conversation to our team.": "智能助手已将您转接给人工客服。",
    "%(agent)s joined the conversation.": "%(agent)s已加入会话。",
    "Your conversation was transferred to %(agent)s.": "您的会话已转接给%(agent)s。",
    "The conversation has ended. Write again any time to reopen it.":
        "本次会话已结束。如需帮助，随时发消息即可继续。",
    # The bot's built-in small talk (knowledge/smalltalk.py)
    "Hello! How can I help you today?": "您好！请问有什么可以帮您？",
    "Yes, I am here. What can I do for you?": "在的，请问有什么可以帮您？",
    "You are welcome! Is there anything else I can help with?": "不客气！还有其他可以帮您的吗？",
    "Goodbye, and have a nice day!": "再见，祝您生活愉快！",
    "Rating submitted": "已提交评价",
    # Transcript by e-mail
    "Email me this conversation": "把聊天记录发到我的邮箱",
    "Your email address": "您的邮箱地址",
    "There is no conversation to send yet.": "还没有可以发送的聊天记录。",
    "Enter the email address to send it to.": "请填写接收聊天记录的邮箱地址。",
    "You have asked for several transcripts already; try later.": "您已多次申请聊天记录，请稍后再试。",
    "The transcript is on its way to %(email)s.": "聊天记录已发送到 %(email)s。",
    "Your conversation with %(merchant)s": "您与%(merchant)s的聊天记录",
    "Your conversation with %(merchant)s, as you asked:": "应您的要求，这是您与%(merchant)s的聊天记录：",
    "(the most recent messages)": "（最近的消息）",
    # Pre-chat form
    "Not asked": "不询问",
    "Optional": "选填",
    "Required": "必填",
    "pre-chat form: name": "咨询前表单：姓名",
    "pre-chat form: email": "咨询前表单：邮箱",
    "pre-chat form: phone": "咨询前表单：电话",
    "pre-chat form: other questions": "咨询前表单：其他问题",
    "One question per line (at most 5), for example “Order number”; end a line with * "
    "to make it required. Visitors your site identifies never see the form.":
        "每行一个问题（最多 5 个），例如“订单号”；行末加 * 表示必填。网站已识别身份的访客不会看到此表单。",
    "Email": "邮箱",
    "Phone": "电话",
    "Enter text.": "请输入文字。",
    "Enter a valid phone number.": "请输入有效的电话号码。",
    "Not a question of this form.": "表单中没有这个问题。",
    "Expected an object of answers.": "应为问题与回答的对象。",
    "Before we start, please tell us a little about yourself.": "开始咨询前，请留下您的信息。",
    "Start the chat": "开始咨询",
    "optional": "选填",
    # The e-mailed survey
    "This link has expired.": "此链接已过期。",
    "This link is not valid.": "此链接无效。",
    "Your rating": "您的评价",
    "Rate the conversation": "评价本次服务",
    "How did %(merchant)s do?": "您对%(merchant)s的服务满意吗？",
    "Thank you for chatting with %(merchant)s. How did we do? Rating takes a few seconds:":
        "感谢您咨询%(merchant)s。您对我们的服务满意吗？评价只需几秒钟：",
    "The link works for %(days)s days.": "此链接 %(days)s 天内有效。",
}
