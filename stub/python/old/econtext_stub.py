# econtext remote stub for Python 2.4, 2.5 and 2.6: the wire codec of ../econtext_stub.py
# (docs/wire-format.md), in the syntax 2.4 parses and with what its library has: no b'',
# bytearray, struct.Struct, conditional expressions or `except ... as`. Python 2 only, so
# native str is bytes and unicode is text. Pinned by the same testdata/ vectors
# (tests/python/test_vectors_old.py). Budget: with old/runtime.py <= 5120 bytes deflated.
# First, for the spawn routine of a via hop (../spawn.py), which tells the two stubs apart.
STUB='2.4'
import struct,binascii as _A,re,sys
# Floats in native order, flipped on big-endian machines: 2.4's '<d' drops the sign of -0.0
# and refuses inf and nan.
_O=1-2*(sys.byteorder=='big')
MAX=1<<27
_sur=re.compile('\xed[\xa0-\xbf]').search
try:_X=(str,bytearray)
except NameError:_X=str
class CodecError(ValueError):
 def code(s):return s.args[0]
 code=property(code)
_E=CodecError
class _R(object):
 def __init__(s,*a):s.args=a
 def __eq__(s,o):return type(s)==type(o)and s.args==o.args
 def __ne__(s,o):return not s==o
 def __hash__(s):return hash(s.args)
 def __repr__(s):return type(s).__name__+repr(s.args)
class Context(_R):pass
class Sender(_R):pass
# 2.4 raises only classic classes: RemoteError is a value here, never raised.
class RemoteError(_R):pass
_C={'Context':Context,'Sender':Sender,'RemoteError':RemoteError}
_K='N b i I f s x L T D Context Sender RemoteError'.split()
_VT=(type(None),bool,(int,long),(),float,unicode,_X,list,tuple,dict,Context,Sender,RemoteError)
_B={'Call':'s s *v *K','K':'s v','P':'v v','Reply':'v|RemoteError','RemoteError':'s s s',
'Shutdown':'','LogRecord':'s u s','ModuleRequest':'s','ModuleReply':'s *Module *s',
'Module':'s s b x','RouteAdd':'u u s','RouteDel':'u',
'Spawn':'u s *s b b b *Prompt *Failure u x','Prompt':'x x','Failure':'x u',
'Init':'u u s u u *s u','Channel':'v|?RemoteError|u','DeadLetter':'u s',
'Context':'u','Sender':'u u'}
# The encoder appends str pieces to a list b.
def _vw(b,n):
 while n>127:b.append(chr(n&127|128));n>>=7
 b.append(chr(n))
def _wb(b,x):_vw(b,len(x));b.append(str(x))
def _e(b,k,x,d=0):
 c=k[0]
 if c=='*':
  _vw(b,len(x))
  for y in x:_e(b,k[1:],y,d)
 elif c=='?':
  if x is None:b.append('\0')
  else:b.append('\1');_e(b,k[1:],x,d)
 elif k=='v':
  for i,t in enumerate(_VT):
   if isinstance(x,t):break
  else:raise _E('bad_variant')
  if i==2 and not-1<<63<=x<1<<63:i=3
  _vw(b,i);_e(b,_K[i],x,d)
 elif k in'LTD':
  if d>63:raise _E('depth')
  _vw(b,len(x));f='v'
  if k=='D':x=x.items();f='P'
  for y in x:_e(b,f,y,d+1)
 elif k=='i':_vw(b,x<<1^x>>63)
 elif k=='I':
  y=x
  if y<0:y=~y
  h='%x'%y;t=int(h[0],16);n=(4*len(h)-4+(t>0)+(t>1)+(t>3)+(t>7)>>3)+1
  _wb(b,_A.unhexlify('%0*x'%(2*n,x&(1<<8*n)-1))[::-1])
 elif k=='f':b.append(struct.pack('d',x)[::_O])
 elif k=='s':
  if isinstance(x,unicode):x=x.encode('utf-8')
  _wb(b,x)
 elif k=='u':
  if not 0<=x<1<<32:raise _E('varint')
  _vw(b,x)
 elif k=='b':b.append(chr(bool(x)))
 elif k=='x':_wb(b,x)
 elif k!='N':
  t=_B[k]
  if'|'in t:i,x=x;_vw(b,i);_e(b,t.split('|')[i],x,d)
  else:
   for f,y in zip(t.split(),getattr(x,'args',x)):_e(b,f,y,d)
class _D(object):
 def __init__(s,b):s.b=str(b);s.p=0
 def r(s,n):
  p=s.p;s.p+=n
  if s.p>len(s.b):raise _E('truncated')
  return s.b[p:s.p]
 def u(s,w=32):
  n=i=0
  while 1:
   c=ord(s.r(1));n|=(c&127)<<i;i+=7
   if n>>w or i>w and c>127:raise _E('varint')
   if c<128:return n
 def n(s):
  n=s.u(64)
  if n>len(s.b)-s.p:raise _E('truncated')
  return n
 def t(s,e='bad_bool'):
  c=ord(s.r(1))
  if c>1:raise _E(e)
  return c>0
def _d(s,k,d=0):
 c=k[0]
 if c=='*':return[_d(s,k[1:],d)for _ in range(s.n())]
 if c=='?':
  if s.t('bad_variant'):return _d(s,k[1:],d)
  return
 if k=='v':
  i=s.u()
  if i>12:raise _E('bad_variant')
  return _d(s,_K[i],d)
 if k in'LTD':
  if d>63:raise _E('depth')
  f='v'
  if k=='D':f='P'
  l=[_d(s,f,d+1)for _ in range(s.n())]
  if k=='L':return l
  if k=='T':return tuple(l)
  r={}
  for k,v in l:
   try:f=k in r
   except TypeError:f=1
   if f:raise _E('bad_key')
   r[k]=v
  return r
 if k=='i':n=s.u(64);return n>>1^-(n&1)
 if k=='I':
  r=_d(s,'x');n=len(r)
  if n<9 or ord(r[-1])==(ord(r[-2])>>7)*255:raise _E('noncanonical_bigint')
  v=int(_A.hexlify(r[::-1]),16)
  if ord(r[-1])>127:v-=1<<8*n
  return v
 if k=='f':return struct.unpack('d',s.r(8)[::_O])[0]
 if k in'sx':
  r=s.r(s.n())
  if k=='x':return r
  try:
   if not _sur(r):return r.decode('utf-8')
  except UnicodeError:pass
  raise _E('bad_utf8')
 if k=='u':return s.u()
 if k=='b':return s.t()
 if k=='N':return
 t=_B[k]
 if'|'in t:
  t=t.split('|');i=s.u()
  if i>=len(t):raise _E('bad_variant')
  return i,_d(s,t[i],d)
 r=tuple([_d(s,f,d)for f in t.split()]);c=_C.get(k)
 if c:return c(*r)
 return r
def enc(v,k='v'):b=[];_e(b,k,v);return''.join(b)
def dec(b,k='v'):
 s=_D(b);v=_d(s,k)
 if s.p<len(s.b):raise _E('trailing')
 return v
def hdr_pack(f,dst,src,h,rt,n):return struct.pack('>2sBB5I','EC',1,f,dst,src,h,rt,n)
def hdr_unpack(b,mx=MAX):
 if len(b)<24:raise _E('truncated')
 h=struct.unpack('>2sBB5I',str(b[:24]))
 for c,e in(h[0]!='EC','bad_magic'),(h[1]!=1,'bad_version'),(h[2]>1,'bad_flags'),(h[7]>mx,'too_large'):
  if c:raise _E(e)
 return h[2:]
