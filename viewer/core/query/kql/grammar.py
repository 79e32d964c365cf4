"""The KQL subset's grammar, for Lark (LALR).

Kept as a Python string rather than a .lark file so that it ships with the package without
package-data configuration.
"""

GRAMMAR = r"""
// The KQL subset Caseline translates (see viewer/core/query/kql/__init__.py).
// LALR(1) with Lark's contextual lexer: words such as `has` or `by` are keywords only where the
// grammar expects them, so they stay usable as column names elsewhere, as in KQL.

start: (let_stmt ";")* pipeline ";"?

let_stmt: "let" NAME "=" pipeline

pipeline: head ("|" operator)*
?head: expr
     | union_op

?operator: where_op | project_op | project_away_op | extend_op | summarize_op | top_op
         | sort_op | take_op | distinct_op | join_op | union_op | render_op

where_op: "where" expr
project_op: "project" named_expr ("," named_expr)*
project_away_op: "project-away" column_name ("," column_name)*
extend_op: "extend" named_expr ("," named_expr)*
summarize_op: "summarize" [named_expr ("," named_expr)*] [BY named_expr ("," named_expr)*]
top_op: "top" expr BY sort_key
sort_op: ("sort" | "order") BY sort_key ("," sort_key)*
take_op: ("take" | "limit") expr
distinct_op: "distinct" (STAR | column_name ("," column_name)*)
join_op: "join" option* tabular_arg "on" join_cond ("," join_cond)*
union_op: "union" option* tabular_arg ("," tabular_arg)*
render_op: "render" NAME ["with" "(" render_prop ("," render_prop)* ")"]

named_expr: [NAME "="] expr
column_name: NAME | bracket_name
sort_key: expr [ASC | DESC] [NULLS (FIRST | LAST)]
option: NAME "=" NAME
      | NAME "." NAME "=" NAME  -> hint_option
tabular_arg: NAME | "(" pipeline ")"
join_cond: expr
render_prop: NAME "=" (NAME | STRING)
           | NAME                      -> render_list_item

?expr: or_expr
?or_expr: and_expr | or_expr "or" and_expr -> or_
?and_expr: cmp_expr | and_expr "and" cmp_expr -> and_
?cmp_expr: add_expr
         | add_expr CMP_OP add_expr -> compare
         | add_expr STR_OP add_expr -> string_op
         | add_expr IN_OP "(" expr ("," expr)* ")" -> in_list
         | add_expr "between" "(" add_expr ".." add_expr ")" -> between
         | add_expr "matches" "regex" add_expr -> matches_regex
?add_expr: mul_expr | add_expr ADD_OP mul_expr -> arith
?mul_expr: unary | mul_expr (STAR | MUL_OP) unary -> arith
?unary: postfix | "-" unary -> negate
?postfix: atom
        | postfix "." NAME -> member
        | postfix "[" expr "]" -> index
?atom: NAME -> name
     | bracket_name -> name
     | NAME "(" [expr ("," expr)*] ")" -> call
     | STRING -> string
     | NUMBER -> number
     | TIMESPAN -> timespan
     | DATETIME -> datetime
     | "true" -> true
     | "false" -> false
     | SIDE "." NAME -> side_column
     | "(" pipeline ")" -> paren

bracket_name: "[" STRING "]"

BY: "by"
ASC: "asc"
DESC: "desc"
NULLS: "nulls"
FIRST: "first"
LAST: "last"
STAR: "*"
SIDE: "$left" | "$right"
CMP_OP: "==" | "!=" | "<=" | ">=" | "<" | ">" | "=~" | "!~"
STR_OP: /!?(has|contains|startswith|endswith)(_cs)?\b/
IN_OP: /!?in\b~?/
ADD_OP: "+" | "-"
MUL_OP: "/" | "%"

NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /@"[^"]*"/ | /@'[^']*'/ | /"(\\.|[^"\\\n])*"/ | /'(\\.|[^'\\\n])*'/
NUMBER: /\d+(\.\d+)?([eE][+-]?\d+)?(?![A-Za-z_])/
TIMESPAN.3: /\d+(\.\d+)?(days|day|d|hours|hour|hrs|hr|h|minutes|minute|min|m|seconds|second|sec|s|milliseconds|millisecond|milli|ms|microseconds|microsecond|micro|ticks|tick)(?![A-Za-z0-9_])/
DATETIME.3: /datetime\(\s*[^()]*\)/

COMMENT: /\/\/[^\n]*/
%import common.WS
%ignore WS
%ignore COMMENT
"""
