"""Chinese for the widget's last pieces (issue 14): stored system lines as the workspace shows
them, the pre-chat answers in the visitor pane, the queued transcript e-mail."""

ZH = {
    # Workspace: a system line of the visitor's thread
    "Shown to the visitor": "访客看到的提示",
    # Workspace: the pre-chat form's answers in the visitor pane
    "Pre-chat form": "咨询前表单",
    "Answered %s": "填写于 %s",
    "Name": "姓名",
    # Widget: the transcript e-mail could not be queued
    "The transcript cannot be sent right now; try later.": "暂时无法发送聊天记录，请稍后再试。",
}
